"""The bench's targets: ratios of the same run's baseline, each met or missed as stated.

Built from figures, not from a run: the targets' logic, not the machine, is under test.
"""

from types import SimpleNamespace

import pytest

from workers.tools.bench import report
from workers.tools.bench.find_max import FindMaxResult
from workers.tools.bench.long_run import LongRunResult
from workers.tools.bench.long_run import long_run_rate
from workers.tools.bench.processes import ProcessUsage
from workers.tools.bench.runner import run_failures
from workers.tools.bench.stats import Latency
from workers.tools.bench.stats import PhaseResult

RATE = 20.0


def latency(p99_ms: float) -> Latency:
    return Latency(count=100, p50=p99_ms / 2, p95=p99_ms * 0.9, p99=p99_ms, max=p99_ms)


def phase(
    name: str,
    *,
    achieved: float = RATE,
    accept_p99: float = 50.0,
    final_p99: float = 100.0,
    cpu: dict[str, float] | None = None,
    rate: float = RATE,
    rss_mb: float = 200.0,
) -> PhaseResult:
    processes = {
        process: ProcessUsage(cpu_seconds=seconds, peak_rss_mb=rss_mb)
        for process, seconds in (cpu or {}).items()
    }
    return PhaseResult(
        name=name,
        offered_rate=rate,
        duration=30.0,
        sent=100,
        finished=100,
        window_seconds=30.0,
        achieved_rate=achieved,
        accept_latency=latency(accept_p99),
        final_latency=latency(final_p99),
        errors={},
        processes=processes or None,
    )


def paysaga(**figures) -> PhaseResult:
    cpu = {"api": 1.0, "worker": 2.0, "gateway": 0.5, "temporal": 5.0}
    return phase(report.PAYSAGA, cpu=figures.pop("cpu", cpu), **figures)


def baseline(**figures) -> PhaseResult:
    return phase(report.BASELINE, cpu=figures.pop("cpu", {"baseline worker": 3.0}), **figures)


def judged(phases: dict, searches: dict | None = None) -> dict:
    return report.targets({p.name: p for p in phases}, {s.name: s for s in (searches or [])}, RATE)


def test_a_run_that_meets_every_target_has_no_missed_target():
    # paysaga's own CPU: 3.5 s / 100 payments against the baseline worker's 3 s / 100.
    found = judged([paysaga(achieved=19.0, accept_p99=150.0), baseline(final_p99=100.0)])

    assert {name: t["met"] for name, t in found.items()} == {
        "achieved_rate": True,
        "own_cpu_vs_baseline_worker": True,
        "post_p99_vs_result_p99": True,
        "worker_peak_rss_mb": True,
    }
    assert found["own_cpu_vs_baseline_worker"]["value"] == pytest.approx(1.167, abs=0.001)
    assert report.missed_targets({"targets": found}) == []


def assert_run_fails_naming(found: dict, target: str) -> None:
    """A run whose only missed target is ``target`` fails, naming it."""
    document = {
        "phases": {},
        "find_max": {},
        "verification": {"ok": True, "payments": 100},
        "targets": found,
    }
    (missed,) = run_failures(document)
    assert missed.startswith(f"target missed: {target} ")


@pytest.mark.parametrize(
    ("ours", "target"),
    [
        ({"achieved": 17.0}, "achieved_rate"),  # 0.85x < 0.9x
        ({"accept_p99": 201.0}, "post_p99_vs_result_p99"),  # 2.01x > 2x
        ({"cpu": {"api": 1.5, "worker": 2.5, "gateway": 0.6}}, "own_cpu_vs_baseline_worker"),
        ({"rss_mb": 500.0}, "worker_peak_rss_mb"),
    ],
)
def test_each_missed_target_is_named_and_fails_the_run(ours, target):
    found = judged([paysaga(**ours), baseline(final_p99=100.0)])

    assert found[target]["met"] is False
    assert [name for name, t in found.items() if t["met"] is False] == [target]
    assert_run_fails_naming(found, target)


def search(name: str, held: float | None, *steps: PhaseResult) -> FindMaxResult:
    return FindMaxResult(name, list(steps), held, "")


def test_find_max_judges_the_highest_rates_and_the_step_at_the_rate():
    ours = search(report.PAYSAGA, 60.0, paysaga(rate=10.0), paysaga(rate=RATE, achieved=15.0))
    base = search(report.BASELINE, 50.0, baseline(rate=10.0), baseline(rate=RATE))

    found = judged([], [ours, base])

    assert (found["max_sustained_rate"]["value"], found["max_sustained_rate"]["met"]) == (1.2, True)
    # The at-rate targets read the 20/s step of each search: 15/20 = 0.75x.
    assert (found["achieved_rate"]["value"], found["achieved_rate"]["met"]) == (0.75, False)
    # The product's goal is absolute: shown, never a failure.
    assert found["sustained_rate_per_s"] | {"value": 60.0} == found["sustained_rate_per_s"]
    assert found["sustained_rate_per_s"]["enforced"] is False
    assert report.missed_targets({"targets": found}) == [
        "target missed: achieved_rate 0.75 (target 0.9; achieved rate ÷ baseline's at 20/s)"
    ]


def test_a_search_that_held_no_rate_misses_against_one_that_did():
    found = judged([], [search(report.PAYSAGA, None), search(report.BASELINE, 50.0)])

    assert (found["max_sustained_rate"]["value"], found["max_sustained_rate"]["met"]) == (
        0.0,
        False,
    )


def test_without_a_baseline_or_process_figures_no_ratio_target_is_claimed():
    found = judged([paysaga(cpu={})])

    assert found == {}


def test_the_all_local_baseline_is_reported_against_and_never_a_target():
    all_local = phase(report.ALL_LOCAL, achieved=20.0, final_p99=50.0)
    phases = {p.name: p for p in (paysaga(), baseline(), all_local)}
    args = SimpleNamespace(rate=RATE, find_max=False, long_run=None)

    ratios = report.document(
        args=args,
        started_at=report.datetime.now(report.UTC),
        phases=phases,
        searches={},
        verification=SimpleNamespace(as_dict=dict, problems=list),
        injected_duplicate=None,
        unanswered={},
    )["ratios"]

    assert ratios["achieved_rate_vs_all_local"] == 1.0
    assert ratios["final_p99_vs_all_local"] == 2.0
    assert not any(name.endswith("_vs_all_local") for name in judged(list(phases.values())))


def long_run(start_p99: float, end_p99: float, worker_rss_mb: float) -> LongRunResult:
    held = paysaga(rss_mb=worker_rss_mb)
    return LongRunResult(
        phase=held,
        rate_from="--rate",
        window_payments=10,
        start_latency=latency(start_p99),
        end_latency=latency(end_p99),
        rss={},
        rss_samples=[],
    )


def judged_long_run(run: LongRunResult) -> dict:
    return report.targets({}, {}, RATE, run)


def test_a_long_run_that_stays_flat_meets_its_targets():
    found = judged_long_run(long_run(start_p99=200.0, end_p99=300.0, worker_rss_mb=499.0))

    assert {name: (t["value"], t["met"]) for name, t in found.items()} == {
        "long_run_p99_end_vs_start": (1.5, True),
        "long_run_worker_peak_rss_mb": (499.0, True),
    }
    assert report.missed_targets({"targets": found}) == []


@pytest.mark.parametrize(
    ("figures", "target"),
    [
        (
            {"start_p99": 200.0, "end_p99": 301.0, "worker_rss_mb": 200.0},
            "long_run_p99_end_vs_start",
        ),
        (
            {"start_p99": 200.0, "end_p99": 200.0, "worker_rss_mb": 500.0},
            "long_run_worker_peak_rss_mb",
        ),
    ],
)
def test_a_long_run_that_drifts_misses_its_target_and_fails_the_run(figures, target):
    found = judged_long_run(long_run(**figures))

    assert [name for name, t in found.items() if t["met"] is False] == [target]
    assert_run_fails_naming(found, target)


def test_a_long_run_without_a_first_window_answer_claims_no_latency_target():
    run = long_run(start_p99=200.0, end_p99=200.0, worker_rss_mb=200.0)
    run.start_latency = None

    assert judged_long_run(run)["long_run_p99_end_vs_start"]["met"] is None


def test_after_find_max_the_long_run_holds_the_lower_of_rate_and_most_of_the_maximum():
    assert long_run_rate(RATE, None) == RATE
    assert long_run_rate(RATE, search(report.PAYSAGA, 20.0)) == 16.0
    assert long_run_rate(RATE, search(report.PAYSAGA, 40.0)) == RATE
    # No step held: most of what the best step achieved; nothing achieved, nothing to hold.
    assert long_run_rate(RATE, search(report.PAYSAGA, None, paysaga(achieved=7.5))) == 6.0
    assert long_run_rate(RATE, search(report.PAYSAGA, None, paysaga(achieved=0.0))) == 0.0


def test_a_long_run_that_could_not_run_fails_the_run():
    document = {
        "phases": {},
        "find_max": {},
        "long_run": {"skipped": "--find-max measured no rate to hold"},
        "verification": {"ok": True, "payments": 100},
    }

    assert run_failures(document) == ["long run not run: --find-max measured no rate to hold"]
