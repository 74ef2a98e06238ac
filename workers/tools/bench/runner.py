"""``paysaga bench``: targets, phases (warm-up, measured load, find-max, long run),
verification, report."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import asynccontextmanager
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn
from rich.progress import MofNCompleteColumn
from rich.progress import Progress
from rich.progress import TextColumn
from rich.progress import TimeElapsedColumn
from temporalio.client import Client

from schemas.runtime.settings import Settings
from schemas.runtime.temporal_client import connect
from schemas.store.database import make_engine
from workers.tools.bench import report
from workers.tools.bench.baseline import BASELINE_TASK_QUEUE
from workers.tools.bench.baseline import AllLocalBaselineWorkflow
from workers.tools.bench.baseline import BaselinePaymentWorkflow
from workers.tools.bench.baseline import BaselineWorkflow
from workers.tools.bench.baseline_process import BaselineWorkerProcess
from workers.tools.bench.drivers import AMOUNT
from workers.tools.bench.drivers import TENANT
from workers.tools.bench.drivers import ApiDriver
from workers.tools.bench.drivers import BaselineDriver
from workers.tools.bench.drivers import new_run_id
from workers.tools.bench.find_max import FindMaxResult
from workers.tools.bench.find_max import StepPolicy
from workers.tools.bench.find_max import find_max_rate
from workers.tools.bench.load import Driver
from workers.tools.bench.load import LoadWindow
from workers.tools.bench.load import Sample
from workers.tools.bench.load import run_open_loop
from workers.tools.bench.long_run import LongRunResult
from workers.tools.bench.long_run import long_run_rate
from workers.tools.bench.long_run import summarize_long_run
from workers.tools.bench.processes import ProcessMeter
from workers.tools.bench.processes import ProcessUsage
from workers.tools.bench.recovery import claimed_payment_ids
from workers.tools.bench.recovery import started_payment_ids
from workers.tools.bench.stats import PhaseResult
from workers.tools.bench.stats import summarize
from workers.tools.verification import Verification
from workers.tools.verification import verify_payments

# How long verification waits for the last workflows to close.
SETTLE_SECONDS = 120.0


@dataclass
class Targets:
    api_url: str
    # Temporal as the stack's processes reach it: its address and the payload keys
    # (payloads are encrypted, a client without the keys reads only ciphertext).
    temporal: Settings
    gateway_url: str
    database_url: str
    # Processes to measure by name; None when they are not known (a stack run elsewhere).
    pids: dict[str, int] | None
    log_dir: Path
    api_key: str | None = None

    @property
    def api_headers(self) -> dict[str, str]:
        """What a client of the development tenant sends."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def gateway_headers(self) -> dict[str, str]:
        """The gateway's credential: the stack's, or PAYSAGA_SANDBOX_GATEWAY_TOKEN for a
        stack run elsewhere (read into ``temporal`` with the other settings)."""
        token = self.temporal.sandbox_gateway_token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}


@contextmanager
def targets_for(
    args: argparse.Namespace, console: Console, extra_env: dict[str, str] | None = None
) -> Iterator[Targets]:
    """The stack under test: the one named by --api-url etc., or a fresh embedded one
    (``extra_env``: settings of its processes)."""
    if args.api_url:
        yield Targets(
            api_url=args.api_url,
            # The keys come from PAYSAGA_PAYLOAD_KEYS, as for that stack's own processes.
            temporal=Settings(temporal_address=args.temporal_address),
            gateway_url=args.gateway_url,
            database_url=args.database_url,
            pids=args.pids,
            log_dir=Path(tempfile.gettempdir()),
            api_key=args.api_key,
        )
        return
    from workers.stack import EmbeddedStack
    from workers.stack import free_stack_ports

    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="paysaga-bench-"))
    console.print(f"Starting the embedded stack in {data_dir}")
    stack = EmbeddedStack(data_dir=data_dir, **free_stack_ports(), extra_env=extra_env or {})
    try:
        with stack:
            yield Targets(
                api_url=stack.api_url,
                temporal=stack.settings(),
                gateway_url=stack.gateway_url,
                database_url=stack.database_url,
                pids=stack.pids(),
                log_dir=Path(stack.log_dir),
                api_key=stack.api_key,
            )
    finally:
        if not args.data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)


def progress_bars() -> Progress:
    """One bar per part of a run, on stderr; each task carries an ``errors`` count."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("errors {task.fields[errors]}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
    )


class Bench:
    """One bench run against one stack: the phases it ran and every payment it created."""

    def __init__(self, args: argparse.Namespace, targets: Targets, temporal: Client) -> None:
        self.args = args
        self.targets = targets
        self.temporal = temporal
        self.run_id = new_run_id()
        self.payment_ids: list[str] = []
        # Keys of requests that got no payment id back (5xx, timeouts): see recovery.py.
        self.unanswered_keys: list[str] = []
        # Results by saga ("paysaga", "baseline"): a measured load, or a --find-max search.
        self.phases: dict[str, PhaseResult] = {}
        self.searches: dict[str, FindMaxResult] = {}
        self.long_run: LongRunResult | None = None
        # Why --long-run did not run, when it could not.
        self.long_run_skipped: str | None = None
        self.progress = progress_bars()

    async def measured(
        self, name: str, driver: Driver, rate: float, duration: float, pids: dict[str, int] | None
    ) -> PhaseResult:
        window, usage, _ = await self._metered(name, driver, rate, duration, pids)
        return summarize(name, window, usage)

    async def _metered(
        self, name: str, driver: Driver, rate: float, duration: float, pids: dict[str, int] | None
    ) -> tuple[LoadWindow, dict[str, ProcessUsage] | None, ProcessMeter | None]:
        """A load with the processes measured over it (when their pids are known)."""
        meter = ProcessMeter.with_self(pids) if pids is not None else None
        if meter is not None:
            meter.start()
        window = await self._load(name, driver, rate, duration)
        usage = meter.stop() if meter is not None else None
        return window, usage, meter

    async def phase(
        self,
        name: str,
        driver: Callable[[str], Driver],
        pids: dict[str, int] | None,
        *,
        bound_on_final: bool,
    ) -> None:
        """Warm-up, then the measured load at --rate or, with --find-max, the search;
        ``driver(label)`` makes the driver of each part."""
        args = self.args
        if args.warmup > 0:
            # Unmeasured load first: connections, caches and the JIT-less imports settle.
            await self._load(f"{name} warm-up", driver("w"), args.rate, args.warmup)
        if args.find_max:
            self.searches[name] = await find_max_rate(
                name,
                lambda rate: self.measured(
                    f"{name} step {rate:g}/s",
                    driver(f"s{rate:g}"),
                    rate,
                    args.step_duration,
                    pids,
                ),
                _policy(args),
                bound_on_final=bound_on_final,
            )
        else:
            self.phases[name] = await self.measured(
                name, driver("m"), args.rate, args.duration, pids
            )

    async def hold(
        self, name: str, driver: Callable[[str], Driver], pids: dict[str, int] | None
    ) -> None:
        """--long-run: warm-up, then the load held for that long, at --rate or, after
        --find-max, at the lower of it and 0.8x the maximum the search measured."""
        args = self.args
        search = self.searches.get(name)
        rate = long_run_rate(args.rate, search)
        if rate <= 0:
            self.long_run_skipped = "--find-max measured no rate to hold"
            return
        rate_from = "--rate" if rate == args.rate else "0.8x the --find-max maximum"
        if args.warmup > 0:
            await self._load(f"{name} long-run warm-up", driver("lw"), rate, args.warmup)
        label = f"{name} long run"
        window, usage, meter = await self._metered(label, driver("l"), rate, args.long_run, pids)
        samples = meter.rss_samples if meter is not None else []
        self.long_run = summarize_long_run(label, window, rate_from, usage, samples)

    async def _load(self, name: str, driver: Driver, rate: float, duration: float):
        count = max(1, round(rate * duration))
        task = self.progress.add_task(f"{name} @ {rate:g}/s", total=count, errors=0)
        errors = 0

        def done(sample: Sample) -> None:
            nonlocal errors
            errors += bool(sample.error)
            self.progress.update(task, advance=1, errors=errors)

        window = await run_open_loop(driver, rate, duration, on_done=done)
        if isinstance(driver, ApiDriver):
            for sample in window.samples:
                if sample.payment_id:
                    self.payment_ids.append(sample.payment_id)
                elif sample.idempotency_key:
                    self.unanswered_keys.append(sample.idempotency_key)
        return window

    def api_driver(self, http: httpx.AsyncClient, label: str) -> ApiDriver:
        return ApiDriver(http, self.temporal, f"{self.run_id}{label}")

    def baseline_driver(
        self, task_queue: str, label: str, workflow: BaselineWorkflow = BaselinePaymentWorkflow
    ) -> BaselineDriver:
        return BaselineDriver(self.temporal, task_queue, f"{self.run_id}{label}", workflow)

    def baseline_pids(self, worker_pid: int) -> dict[str, int] | None:
        """The baseline worker, plus the stack: its idle share is not "other processes"."""
        if self.targets.pids is None:
            return None
        return {**self.targets.pids, "baseline worker": worker_pid}


async def run(args: argparse.Namespace, targets: Targets, console: Console) -> dict:
    temporal = await connect(targets.temporal)
    bench = Bench(args, targets, temporal)
    started_at = datetime.now(UTC)
    # Open loop: at high rates many requests are in flight at once; the client's pool must
    # not become the queue being measured.
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=500)
    async with httpx.AsyncClient(
        base_url=targets.api_url, timeout=120, limits=limits, headers=targets.api_headers
    ) as http:
        with bench.progress:

            def paysaga(label: str) -> ApiDriver:
                return bench.api_driver(http, label)

            # A long run takes the measured phase's place, or follows a --find-max search;
            # last, so the baselines run on a server as fresh as paysaga's search did.
            if args.long_run is None or args.find_max:
                await bench.phase(report.PAYSAGA, paysaga, targets.pids, bound_on_final=False)
            if args.baseline:
                await _run_baseline(bench)
            if args.long_run is not None:
                await bench.hold(report.PAYSAGA, paysaga, targets.pids)
    injected = None
    if args.inject_duplicate_charge:
        injected = await _inject_duplicate_charge(targets, bench)
    verification, unanswered = await _verify(bench, targets, console)
    return report.document(
        args=args,
        started_at=started_at,
        phases=bench.phases,
        searches=bench.searches,
        long_run=bench.long_run,
        long_run_skipped=bench.long_run_skipped,
        verification=verification,
        injected_duplicate=injected,
        unanswered=unanswered,
    )


async def _run_baseline(bench: Bench) -> None:
    """The L,R,L baseline (``baseline``, what the targets are ratios of), then the all-local
    one (``baseline_all_local``, reported only), each with the same warm-up and load."""
    task_queue = f"{BASELINE_TASK_QUEUE}-{bench.run_id}"
    async with baseline_worker(bench, task_queue) as worker_pid:
        for name, workflow in (
            (report.BASELINE, BaselinePaymentWorkflow),
            (report.ALL_LOCAL, AllLocalBaselineWorkflow),
        ):
            await bench.phase(
                name,
                lambda label, workflow=workflow: bench.baseline_driver(task_queue, label, workflow),
                bench.baseline_pids(worker_pid),
                bound_on_final=True,
            )


@asynccontextmanager
async def baseline_worker(bench: Bench, task_queue: str) -> AsyncIterator[int]:
    process = BaselineWorkerProcess(
        bench.targets.temporal, task_queue, bench.targets.log_dir / "baseline-worker.log"
    )
    process.spawn()
    try:
        await process.wait_polling(bench.temporal)
        yield process.pid
    finally:
        process.stop()


def _policy(args: argparse.Namespace) -> StepPolicy:
    return StepPolicy(
        start_rate=args.start_rate,
        rate_step=args.rate_step,
        max_rate=args.max_rate,
        p99_bound_ms=args.p99_bound * 1000,
    )


async def _inject_duplicate_charge(targets: Targets, bench: Bench) -> str | None:
    """Charge one payment again at the gateway under a key of its own: a double charge."""
    if not bench.payment_ids:
        return None
    payment_id = bench.payment_ids[0]
    async with httpx.AsyncClient(
        base_url=targets.gateway_url, timeout=30, headers=targets.gateway_headers
    ) as gateway:
        response = await gateway.post(
            "/v1/charges",
            json={
                "amount": AMOUNT,
                "currency": "USD",
                "payment_method": "tok_visa",
                "capture": True,
                "reference": payment_id,
            },
            headers={"Idempotency-Key": f"bench-injected-duplicate-{bench.run_id}"},
        )
        response.raise_for_status()
    return payment_id


async def _verify(bench: Bench, targets: Targets, console: Console) -> tuple[Verification, dict]:
    """Verify every payment of the run, including those behind unanswered requests."""
    engine = make_engine(targets.database_url)
    try:
        claimed = claimed_payment_ids(engine, bench.unanswered_keys)
        started = await started_payment_ids(bench.temporal, sorted(claimed.values()))
        unanswered = {
            "requests": len(bench.unanswered_keys),
            "key_claimed": len(claimed),
            "saga_started": len(started),
        }
        payment_ids = bench.payment_ids + started
        console.print(f"Verifying {len(payment_ids)} payments...")
        verification = await verify_payments(
            payment_ids,
            client=bench.temporal,
            gateway_url=targets.gateway_url,
            gateway_headers=targets.gateway_headers,
            engine=engine,
            tenant_id=TENANT,
            settle_seconds=SETTLE_SECONDS,
        )
        return verification, unanswered
    finally:
        engine.dispose()


def main(args: argparse.Namespace) -> int:
    return run_on_stack(args, run, report.print_report, run_failures)


def run_on_stack(
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace, Targets, Console], Awaitable[dict]],
    print_report: Callable[[dict, Console], None],
    failures: Callable[[dict], list[str]],
    extra_env: dict[str, str] | None = None,
) -> int:
    """A mode on the stack under test, from its start to the exit status: ``run``'s document
    printed, written to ``--out`` and judged by ``failures``."""
    from workers.stack import StackError

    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        with targets_for(args, console, extra_env) as targets:
            document = asyncio.run(run(args, targets, console))
    except StackError as exc:
        console.print(f"[red]paysaga bench: {escape(str(exc))}[/]")
        return 1
    except KeyboardInterrupt:
        console.print("Interrupted.")
        return 130
    print_report(document, Console(highlight=False))
    return report.conclude(document, args.out, failures(document), console)


def run_failures(document: dict) -> list[str]:
    """Why the run must exit non-zero: a broken invariant, a server error, no payment, or a
    missed target."""
    failures = [] if document["verification"]["ok"] else ["verification failed"]
    if document["verification"]["payments"] == 0:
        failures.append("no payment was created, so nothing was measured or verified")
    steps = [step for search in document["find_max"].values() for step in search["steps"]]
    long_run = document.get("long_run") or {}
    if "skipped" in long_run:
        failures.append(f"long run not run: {long_run['skipped']}")
    held = [long_run["phase"]] if "phase" in long_run else []
    for phase in [*document["phases"].values(), *steps, *held]:
        server_errors = {
            kind: count for kind, count in phase["errors"].items() if kind.startswith("http_5")
        }
        if server_errors:
            failures.append(f"{phase['name']} at {phase['offered_rate']:g}/s: {server_errors}")
    return failures + report.missed_targets(document)
