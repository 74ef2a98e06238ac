"""The long run's figures from samples (its windows' p99, each process's RSS drift), and
which arguments it combines with."""

import pytest

from workers.cli import build_parser
from workers.tools.bench.cli import argument_problem
from workers.tools.bench.load import LoadWindow
from workers.tools.bench.load import Sample
from workers.tools.bench.long_run import summarize_long_run
from workers.tools.bench.processes import ProcessUsage
from workers.tools.bench.processes import RssSample
from workers.tools.bench.processes import rss_trend


def rss_every_second(seconds: int, worker_mb) -> list[RssSample]:
    return [RssSample(float(t), {"worker": worker_mb(t), "api": 150.0}) for t in range(seconds)]


def test_a_leak_shows_as_a_slope_and_a_flat_process_as_none():
    # 2 MB a minute after a first minute of filling caches (60 MB in it).
    samples = rss_every_second(600, lambda t: 100.0 + t if t < 60 else 160.0 + (t - 60) / 30)

    leaking = rss_trend(samples, "worker", since_seconds=60)
    flat = rss_trend(samples, "api", since_seconds=60)

    assert leaking.slope_mb_per_min == pytest.approx(2.0)
    assert (leaking.start_mb, leaking.peak_mb) == (100.0, leaking.end_mb)
    assert flat.slope_mb_per_min == 0.0
    assert rss_trend(samples, "gateway") is None


def test_the_windows_are_the_first_and_last_tenth_of_the_payments():
    # 100 payments at 10/s: POST takes 100 ms for the first 90, then 400 ms.
    samples = [
        Sample(i, start_offset=i / 10, accept_seconds=0.1 if i < 90 else 0.4, final_seconds=0.5)
        for i in range(100)
    ]
    window = LoadWindow(10.0, 10.0, 0.0, 10.5, samples)
    usage = {"worker": ProcessUsage(5.0, 180.0), "other processes": ProcessUsage(1.0, 0.0)}

    run = summarize_long_run(
        "paysaga long run", window, "--rate", usage, rss_every_second(11, lambda t: 180.0)
    )

    assert run.window_payments == 10
    assert (run.start_latency.p99, run.end_latency.p99) == (100.0, 400.0)
    assert run.p99_end_vs_start == 4.0
    assert run.worker_peak_rss_mb == 180.0
    assert set(run.rss) == {"worker"}
    document = run.as_dict()
    assert document["phase"]["sent"] == 100
    assert len(document["rss_series"]) == 11


def test_the_long_run_is_a_paysaga_load_compared_only_through_find_max():
    def problem(*flags: str) -> str | None:
        return argument_problem(build_parser().parse_args(["bench", "--long-run", *flags]))

    assert problem("600") is None
    assert problem("600", "--find-max", "--baseline") is None
    assert problem("600", "--baseline") == (
        "--long-run with --baseline needs --find-max, whose steps it is compared with"
    )
    assert problem("0") == "--long-run must be positive"
    assert problem("600", "--billing-day") == "--long-run is a paysaga load, not with --billing-day"
