"""CPU seconds and RSS of the stack's processes over a measured window (psutil).

Each named process counts with its descendants (a server that forks helpers is charged for
them). CPU is read at the window's start and end; RSS is sampled on a background thread,
because the peak is what matters for the memory target and it can fall again before the end,
and the samples over time show a leak as a slope.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass
from dataclasses import field

import psutil

RSS_SAMPLE_SECONDS = 0.5


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        if pid == os.getpid():
            # The bench itself: its children are the stack, measured under their own names.
            return [root]
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass  # exited during the window: its time is lost, not double counted
    return total


def _machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used (all cores), idle and iowait excluded."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _rss_bytes(procs: list[psutil.Process]) -> int:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


@dataclass
class ProcessUsage:
    cpu_seconds: float
    peak_rss_mb: float


@dataclass
class RssSample:
    """Every measured process's RSS at one moment, ``seconds`` after the meter started."""

    seconds: float
    rss_mb: dict[str, float]


@dataclass
class RssTrend:
    """One process's RSS over a window: where it began and ended, and its drift."""

    start_mb: float
    end_mb: float
    peak_mb: float
    # Least-squares slope of the samples from ``since_seconds`` on; None with too few of them.
    slope_mb_per_min: float | None


def rss_trend(samples: list[RssSample], name: str, since_seconds: float = 0.0) -> RssTrend | None:
    """``name``'s RSS over ``samples``; the slope skips the samples before ``since_seconds``
    (a process fills its caches and pools first, which is growth but not a leak)."""
    series = [(s.seconds, s.rss_mb[name]) for s in samples if s.rss_mb.get(name)]
    if not series:
        return None
    later = [(seconds / 60, mb) for seconds, mb in series if seconds >= since_seconds]
    slope = None
    if len({minutes for minutes, _ in later}) >= 2:
        minutes, mbs = zip(*later, strict=True)
        slope = round(statistics.linear_regression(minutes, mbs).slope, 2)
    return RssTrend(
        start_mb=series[0][1],
        end_mb=series[-1][1],
        peak_mb=max(mb for _, mb in series),
        slope_mb_per_min=slope,
    )


@dataclass
class ProcessMeter:
    """Measure named process trees (``{"api": pid, ...}``) between ``start()`` and ``stop()``."""

    pids: dict[str, int]
    _cpu_at_start: dict[str, float] = field(default_factory=dict, init=False)
    _machine_busy_at_start: float = field(default=0.0, init=False)
    _peak_rss: dict[str, int] = field(default_factory=dict, init=False)
    _started_at: float = field(default=0.0, init=False)
    rss_samples: list[RssSample] = field(default_factory=list, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    @classmethod
    def with_self(cls, pids: dict[str, int]) -> ProcessMeter:
        """Also measure this process: the load generator shares the machine's cores."""
        return cls({**pids, "bench client": os.getpid()})

    def start(self) -> None:
        self._cpu_at_start = {name: _cpu_seconds(_tree(pid)) for name, pid in self.pids.items()}
        self._machine_busy_at_start = _machine_busy_seconds()
        self._peak_rss = {name: 0 for name in self.pids}
        self._started_at = time.monotonic()
        self.rss_samples = []
        self._record_rss()
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample_rss, daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, ProcessUsage]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._record_rss()
        usage = {
            name: ProcessUsage(
                cpu_seconds=round(_cpu_seconds(_tree(pid)) - self._cpu_at_start[name], 2),
                peak_rss_mb=round(self._peak_rss[name] / 2**20, 1),
            )
            for name, pid in self.pids.items()
        }
        # Whatever else ran on the machine meanwhile (other benches, test suites, the
        # kernel): when it is large, the run shared its cores and its figures are low.
        machine = _machine_busy_seconds() - self._machine_busy_at_start
        others = machine - sum(u.cpu_seconds for u in usage.values())
        usage["other processes"] = ProcessUsage(round(max(others, 0.0), 2), 0.0)
        return usage

    def _sample_rss(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self._record_rss()

    def _record_rss(self) -> None:
        now = {name: _rss_bytes(_tree(pid)) for name, pid in self.pids.items()}
        for name, rss in now.items():
            self._peak_rss[name] = max(self._peak_rss[name], rss)
        self.rss_samples.append(
            RssSample(
                round(time.monotonic() - self._started_at, 1),
                {name: round(rss / 2**20, 1) for name, rss in now.items()},
            )
        )
