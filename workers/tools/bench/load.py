"""Open-loop load: request i is launched at t0 + i/rate whether or not earlier ones returned.

A closed loop (send the next request when one returns) slows down with the system under
test and hides queueing; here latency is measured from the *scheduled* start, so a client or
server that falls behind shows up as latency instead of as a lower offered rate.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field


@dataclass
class Sample:
    """What happened to one payment (or one baseline workflow)."""

    index: int
    # Seconds from the window's start to this sample's scheduled start (index / rate).
    start_offset: float = 0.0
    # Seconds from the scheduled start: until the first answer (POST / start_workflow) and
    # until the final state is known. None when that point was never reached.
    accept_seconds: float | None = None
    final_seconds: float | None = None
    payment_id: str | None = None
    # Set by the API driver: finds the payment behind a failed request afterwards.
    idempotency_key: str | None = None
    final_status: str | None = None
    # HTTP status (``http_503``), exception type (``ReadTimeout``) or an unexpected final
    # status (``status_declined``); None when the payment went through.
    error: str | None = None
    # Monotonic time the driver returned (the last one ends the window).
    finished_at: float | None = None


Driver = Callable[[Sample, float], Awaitable[None]]


@dataclass
class LoadWindow:
    rate: float
    duration: float
    started_at: float
    ended_at: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def wall_seconds(self) -> float:
        return self.ended_at - self.started_at


async def run_open_loop(
    driver: Driver,
    rate: float,
    duration: float,
    on_sent: Callable[[], None] | None = None,
    on_done: Callable[[Sample], None] | None = None,
) -> LoadWindow:
    """Launch ``rate * duration`` calls of ``driver`` on schedule and wait for all of them.

    The window ends when the last call returned.
    """
    count = max(1, round(rate * duration))
    samples = [Sample(index=i, start_offset=i / rate) for i in range(count)]
    tasks: list[asyncio.Task[None]] = []
    started_at = time.monotonic()

    async def one(sample: Sample, scheduled: float) -> None:
        try:
            await driver(sample, scheduled)
        except Exception as exc:  # the driver records known failures; this is the rest
            sample.error = sample.error or type(exc).__name__
        finally:
            sample.finished_at = time.monotonic()
            if on_done is not None:
                on_done(sample)

    for sample in samples:
        scheduled = started_at + sample.start_offset
        delay = scheduled - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(sample, scheduled)))
        if on_sent is not None:
            on_sent()
    await asyncio.gather(*tasks)
    ended_at = max(s.finished_at or started_at for s in samples)
    return LoadWindow(rate, duration, started_at, ended_at, samples)
