"""``--long-run``: one paysaga load held for minutes, and whether it stays flat: the POST p99
of its last window against its first, and each process's RSS over the run."""

from __future__ import annotations

import math
from dataclasses import asdict
from dataclasses import dataclass

from workers.tools.bench.find_max import FindMaxResult
from workers.tools.bench.load import LoadWindow
from workers.tools.bench.processes import ProcessUsage
from workers.tools.bench.processes import RssSample
from workers.tools.bench.processes import RssTrend
from workers.tools.bench.processes import rss_trend
from workers.tools.bench.stats import Latency
from workers.tools.bench.stats import PhaseResult
from workers.tools.bench.stats import accept_latency
from workers.tools.bench.stats import summarize

# With --find-max the run holds this share of the highest rate found: at the maximum
# itself latency is already at the p99 bound and a little noise makes it grow.
SHARE_OF_MAX_RATE = 0.8
# The first and the last tenth of the payments, by scheduled start, are compared; at 20/s
# over 600 s that is 60 s and 1,200 payments each, enough for a p99 that is not one outlier.
WINDOW_SHARE = 0.1
# The RSS samples kept in the document (evenly spaced): enough to draw the curve.
RSS_SERIES_POINTS = 60


def long_run_rate(rate: float, search: FindMaxResult | None) -> float:
    """--rate, or with --find-max the lower of it and 0.8x the measured maximum: the highest
    sustained rate or, when no step held, the most any step achieved (0 when none did)."""
    if search is None:
        return rate
    measured = search.max_sustained_rate
    if measured is None:
        measured = max((step.achieved_rate for step in search.steps), default=0.0)
    return min(rate, round(SHARE_OF_MAX_RATE * measured, 1))


@dataclass
class LongRunResult:
    phase: PhaseResult
    rate_from: str  # "--rate", or how --find-max's result set it
    window_payments: int
    start_latency: Latency | None  # POST, the first window's payments
    end_latency: Latency | None  # POST, the last window's
    rss: dict[str, RssTrend]
    rss_samples: list[RssSample]

    @property
    def p99_end_vs_start(self) -> float | None:
        if self.start_latency is None or self.end_latency is None:
            return None
        return round(self.end_latency.p99 / self.start_latency.p99, 3)

    @property
    def worker_peak_rss_mb(self) -> float | None:
        processes = self.phase.processes or {}
        return processes["worker"].peak_rss_mb if "worker" in processes else None

    def as_dict(self) -> dict:
        step = max(1, math.ceil(len(self.rss_samples) / RSS_SERIES_POINTS))
        kept = self.rss_samples[::step]
        if self.rss_samples and kept[-1] is not self.rss_samples[-1]:
            kept.append(self.rss_samples[-1])
        return {
            "rate": self.phase.offered_rate,
            "rate_from": self.rate_from,
            "seconds": self.phase.duration,
            "windows": f"first and last {WINDOW_SHARE:.0%} of the payments by scheduled start",
            "window_payments": self.window_payments,
            "start_window_post_latency": _dict(self.start_latency),
            "end_window_post_latency": _dict(self.end_latency),
            "p99_end_vs_start": self.p99_end_vs_start,
            "rss": {name: asdict(trend) for name, trend in self.rss.items()},
            "rss_series": [asdict(sample) for sample in kept],
            "phase": self.phase.as_dict(),
        }


def _dict(latency: Latency | None) -> dict | None:
    return asdict(latency) if latency else None


def summarize_long_run(
    name: str,
    window: LoadWindow,
    rate_from: str,
    usage: dict[str, ProcessUsage] | None,
    rss_samples: list[RssSample],
) -> LongRunResult:
    samples = sorted(window.samples, key=lambda sample: sample.start_offset)
    size = max(1, math.ceil(WINDOW_SHARE * len(samples)))
    names = [name for name in (usage or {}) if name != "other processes"]
    # The slope starts after the first window, where caches and pools fill.
    settled = WINDOW_SHARE * window.duration
    trends = {name: rss_trend(rss_samples, name, since_seconds=settled) for name in names}
    return LongRunResult(
        phase=summarize(name, window, usage),
        rate_from=rate_from,
        window_payments=size,
        start_latency=accept_latency(samples[:size]),
        end_latency=accept_latency(samples[-size:]),
        rss={name: trend for name, trend in trends.items() if trend is not None},
        rss_samples=rss_samples,
    )
