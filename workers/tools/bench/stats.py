"""From samples to figures: latency percentiles, achieved rate, errors by kind."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field

from workers.tools.bench.load import LoadWindow
from workers.tools.bench.load import Sample
from workers.tools.bench.processes import ProcessUsage


@dataclass
class Latency:
    """Milliseconds. Nearest-rank percentiles: every figure is a latency that happened."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency | None:
        if not seconds:
            return None
        ordered = sorted(seconds)

        def rank(p: float) -> float:
            index = max(0, math.ceil(p / 100 * len(ordered)) - 1)
            return round(ordered[index] * 1000, 1)

        return cls(len(ordered), rank(50), rank(95), rank(99), round(ordered[-1] * 1000, 1))


@dataclass
class PhaseResult:
    """One load window: paysaga through the API, or the baseline through the client."""

    name: str
    offered_rate: float
    duration: float
    sent: int
    finished: int
    window_seconds: float
    achieved_rate: float
    accept_latency: Latency | None  # POST /v1/payments, or start_workflow for the baseline
    final_latency: Latency | None
    errors: dict[str, int]
    processes: dict[str, ProcessUsage] | None = None
    payment_ids: list[str] = field(default_factory=list, repr=False)

    @property
    def sustained(self) -> bool:
        """Kept up with the schedule: achieved at least 95 % of the offered rate."""
        return self.achieved_rate >= 0.95 * self.offered_rate

    def as_dict(self) -> dict:
        data = asdict(self)
        data.pop("payment_ids")
        data["sustained"] = self.sustained
        return data


def accept_latency(samples: list[Sample]) -> Latency | None:
    """Until the first answer (POST or start_workflow), of the samples that got one."""
    return Latency.of([s.accept_seconds for s in samples if s.accept_seconds])


def summarize(
    name: str, window: LoadWindow, processes: dict[str, ProcessUsage] | None
) -> PhaseResult:
    samples = window.samples
    finals = [s for s in samples if s.final_seconds is not None]
    # Achieved rate = completions per second between the first and the last completion. A
    # system that keeps up completes at the offered rate whatever its latency; one that
    # falls behind stretches the span. (Dividing by the whole run instead would charge one
    # latency of ramp-up and drain to every run and bias short steps low.)
    done_at = sorted(s.start_offset + s.final_seconds for s in finals)
    span = done_at[-1] - done_at[0] if len(done_at) > 1 else 0.0
    return PhaseResult(
        name=name,
        offered_rate=window.rate,
        duration=window.duration,
        sent=len(samples),
        finished=len(finals),
        window_seconds=round(window.wall_seconds, 2),
        achieved_rate=round((len(done_at) - 1) / span, 2) if span > 0 else 0.0,
        accept_latency=accept_latency(samples),
        final_latency=Latency.of([s.final_seconds for s in finals]),
        errors=dict(Counter(s.error for s in samples if s.error)),
        processes=processes,
        payment_ids=[s.payment_id for s in samples if s.payment_id],
    )
