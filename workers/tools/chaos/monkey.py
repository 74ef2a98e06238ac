"""The chaos: SIGKILL the worker and the Temporal dev server, inject gateway faults.

Moments and magnitudes come from the run's seeded ``random.Random``. Process events run one
after another (a worker is restarted before the next event); gateway faults run beside them.
"""

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

import httpx

from workers.stack import EmbeddedStack
from workers.tools.chaos.config import PROVIDER_TIMEOUT_MS
from workers.tools.chaos.config import ChaosConfig

FAULT_KINDS = ("gateway_5xx", "slow_responses", "timeouts_after_apply")
# A counted fault stays set until the gateway used it up, or this long.
COUNTED_FAULT_MAX_SECONDS = 12.0
# After a restart, the next process event waits at least this long.
MIN_UPTIME_SECONDS = 3.0


@dataclass
class ChaosStats:
    worker_kills: int = 0
    server_restarts: int = 0
    # gateway_5xx / timeouts_after_apply: calls that got the fault; slow_responses: windows.
    faults_injected: Counter = field(default_factory=Counter)
    fault_windows: Counter = field(default_factory=Counter)
    events: list[dict] = field(default_factory=list)


class Monkey:
    def __init__(
        self,
        stack: EmbeddedStack,
        config: ChaosConfig,
        rng: random.Random,
        gateway: httpx.AsyncClient,
        say: Callable[[str], None],
    ) -> None:
        self._stack, self._config, self._rng = stack, config, rng
        self._gateway, self._say = gateway, say
        self._t0 = time.monotonic()
        self.stats = ChaosStats()

    async def run(self) -> None:
        window = self._config.arrival_seconds
        # Drawn before anything runs, so the schedule depends on the seed only.
        process_plan = self._process_schedule(window)
        fault_plan = self._fault_schedule(window) if self._config.faults else []
        try:
            await asyncio.gather(self._processes(process_plan), self._faults(fault_plan))
        finally:
            if self._config.faults:
                await self._gateway.delete("/v1/faults")

    # ----------------------------------------------------------------- processes

    def _process_schedule(self, window: float) -> list[tuple[float, str, float]]:
        events = ["kill_worker"] * self._config.worker_kills
        events += ["restart_server"] * self._config.server_restarts
        self._rng.shuffle(events)
        at = sorted(self._rng.uniform(0.1, 0.9) * window for _ in events)
        return [
            (t, event, self._rng.uniform(0.5, 2.5) if event == "kill_worker" else 2.0)
            for t, event in zip(at, events, strict=True)
        ]

    async def _processes(self, plan: list[tuple[float, str, float]]) -> None:
        ready_at = 0.0
        for at, event, pause in plan:
            # Each restarted process gets some time to work before the next blow.
            await self._until(max(at, ready_at + MIN_UPTIME_SECONDS))
            if event == "kill_worker":
                pid = self._stack.pid("worker")
                self._stack.kill_worker()
                self.stats.worker_kills += 1
                self._event("SIGKILL worker", f"pid {pid}, restart in {pause:.1f}s")
                await asyncio.sleep(pause)
                await self._stack.start_worker_async()
                self._event("worker polling again", f"pid {self._stack.pid('worker')}")
                ready_at = time.monotonic() - self._t0
            else:
                pid = self._stack.pid("temporal")
                self._event("SIGKILL Temporal dev server", f"pid {pid}, down {pause:.1f}s")
                await self._stack.restart_temporal_async(down_seconds=pause)
                self.stats.server_restarts += 1
                self._event("Temporal dev server answering again", "same database file")
                ready_at = time.monotonic() - self._t0

    # ----------------------------------------------------------------- gateway faults

    def _fault_schedule(self, window: float) -> list[tuple[float, str, dict, float]]:
        count = max(len(FAULT_KINDS), int(window / 6))
        kinds = [FAULT_KINDS[i % len(FAULT_KINDS)] for i in range(count)]
        self._rng.shuffle(kinds)
        at = sorted(self._rng.uniform(0.05, 0.9) * window for _ in kinds)
        plan = []
        for t, kind in zip(at, kinds, strict=True):
            if kind == "gateway_5xx":
                config, hold = {"fail_next": self._rng.randint(3, 8)}, 0.0
            elif kind == "slow_responses":
                latency = self._rng.randint(300, PROVIDER_TIMEOUT_MS - 500)
                config, hold = {"latency_ms": latency}, self._rng.uniform(2.0, 4.0)
            else:
                # Applied and committed, then answered after the provider timeout.
                config = {
                    "timeout_next": self._rng.randint(2, 4),
                    "hang_ms": PROVIDER_TIMEOUT_MS + 1_000,
                }
                hold = 0.0
            plan.append((t, kind, config, hold))
        return plan

    async def _faults(self, plan: list[tuple[float, str, dict, float]]) -> None:
        for at, kind, config, hold in plan:
            await self._until(at)
            await self._gateway.put("/v1/faults", json=config)
            self._event(f"gateway fault: {kind}", str(config))
            left = await self._hold(config, hold)
            await self._gateway.delete("/v1/faults")
            self.stats.fault_windows[kind] += 1
            if kind == "gateway_5xx":
                self.stats.faults_injected[kind] += config["fail_next"] - left["fail_next"]
            elif kind == "timeouts_after_apply":
                self.stats.faults_injected[kind] += config["timeout_next"] - left["timeout_next"]
            else:
                self.stats.faults_injected[kind] += 1

    async def _hold(self, config: dict, seconds: float) -> dict:
        """Keep a fault set for ``seconds``; a counted one (``fail_next``, ``timeout_next``)
        until it is used up or for at most ``COUNTED_FAULT_MAX_SECONDS``."""
        counted = [name for name in ("fail_next", "timeout_next") if name in config]
        until = time.monotonic() + (COUNTED_FAULT_MAX_SECONDS if counted else seconds)
        while True:
            await asyncio.sleep(min(0.5, max(0.0, until - time.monotonic())))
            left = (await self._gateway.get("/v1/faults")).json()
            if time.monotonic() >= until or (counted and not any(left[n] for n in counted)):
                return left

    # ----------------------------------------------------------------- helpers

    async def _until(self, at: float) -> None:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - self._t0)))

    def _event(self, what: str, detail: str) -> None:
        t = time.monotonic() - self._t0
        self.stats.events.append({"t": round(t, 2), "event": what, "detail": detail})
        self._say(f"[dim]{t:6.1f}s[/] [bold]{what}[/] {detail}")
