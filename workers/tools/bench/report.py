"""The bench's result: one JSON document, and the rich tables printed from it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import UTC
from datetime import datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from workers.tools.bench.find_max import FindMaxResult
from workers.tools.bench.long_run import LongRunResult
from workers.tools.bench.stats import PhaseResult
from workers.tools.verification import Verification

PAYSAGA, BASELINE, ALL_LOCAL = "paysaga", "baseline", "baseline_all_local"
# paysaga's own processes: what a payment costs beyond Temporal's server and the bench client.
OWN_PROCESSES = ("api", "worker", "gateway")

# What the bench must show, as ratios of the same run's L,R,L baseline (docs/benchmarks.md,
# "Targets"): absolute figures move 2-3x with the shared machine's speed, ratios do not.
RATE_VS_BASELINE = 0.9  # achieved rate at --rate
MAX_RATE_VS_BASELINE = 1.0  # highest sustained rate, --find-max, the same p99 bound for both
CPU_VS_BASELINE_WORKER = 1.5  # CPU per payment of paysaga's own processes ÷ the baseline worker's
POST_P99_VS_BASELINE = 2.0  # POST p99 ÷ the baseline's start-to-result p99, at --rate
WORKER_RSS_TARGET_MB = 500.0
# --long-run: its last window's POST p99 ÷ its first's; above it, something accumulates.
LONG_RUN_P99_GROWTH = 1.5
# The product's goal, absolute, so reported and never enforced: its value depends on the machine.
PRODUCT_RATE_GOAL = 5000 / 60  # payments/s


def machine() -> dict:
    return {
        "cpus": os.cpu_count(),
        "memory_mb": round(psutil.virtual_memory().total / 2**20),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporal_cli": _temporal_version(),
        # Other work on the machine skews every figure: a load well above the bench's own
        # processes means the run shared its cores.
        "load_average_1_5_15": [round(x, 2) for x in psutil.getloadavg()],
    }


def _temporal_version() -> str | None:
    from workers.stack import StackError
    from workers.stack import find_temporal_binary

    try:
        out = subprocess.run(
            [find_temporal_binary(), "--version"], capture_output=True, text=True, timeout=10
        )
    except (StackError, OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def document(
    *,
    args: argparse.Namespace,
    started_at: datetime,
    phases: dict[str, PhaseResult],
    searches: dict[str, FindMaxResult],
    verification: Verification,
    injected_duplicate: str | None,
    unanswered: dict,
    long_run: LongRunResult | None = None,
    long_run_skipped: str | None = None,
) -> dict:
    held = long_run.as_dict() if long_run else None
    if long_run_skipped:
        held = {"skipped": long_run_skipped}
    return {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["paysaga", *sys.argv[1:]]),
        "machine": machine(),
        "mode": _mode(args),
        "phases": {name: phase.as_dict() for name, phase in phases.items()},
        "find_max": {name: search.as_dict() for name, search in searches.items()},
        "long_run": held,
        "ratios": _ratios(phases, searches, args.rate),
        "targets": targets(phases, searches, args.rate, long_run),
        "cpu_available": any(phase.processes for phase in phases.values())
        or any(step.processes for s in searches.values() for step in s.steps)
        or bool(long_run and long_run.phase.processes),
        "verification": {**verification.as_dict(), "problems": verification.problems()},
        "injected_duplicate": injected_duplicate,
        # Requests that got no payment back, and how many of them started a saga anyway
        # (those are verified with the rest).
        "unanswered_requests": unanswered,
    }


def _mode(args: argparse.Namespace) -> str:
    if args.find_max:
        return "find_max"
    return "fixed_rate" if args.long_run is None else "long_run"


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    # A search that held no rate has none: it did 0x its baseline, a missed target.
    if not denominator:
        return None
    if numerator is None:
        numerator = 0.0
    return round(numerator / denominator, 3)


def at_rate(
    phases: dict[str, PhaseResult], searches: dict[str, FindMaxResult], name: str, rate: float
) -> PhaseResult | None:
    """``name``'s load at ``rate``: its measured phase, or its --find-max step at that rate."""
    if name in phases:
        return phases[name]
    steps = (
        [step for step in searches[name].steps if step.offered_rate == rate]
        if name in searches
        else []
    )
    return steps[0] if steps else None


def cpu_per_payment(phase: PhaseResult | None, processes: tuple[str, ...]) -> float | None:
    """CPU seconds per finished payment of the named processes; None when not measured."""
    if phase is None or not phase.processes or not phase.finished:
        return None
    if not all(name in phase.processes for name in processes):
        return None
    return sum(phase.processes[name].cpu_seconds for name in processes) / phase.finished


def _ratios(
    phases: dict[str, PhaseResult], searches: dict[str, FindMaxResult], rate: float
) -> dict:
    """paysaga ÷ a baseline: throughput above 1 is better, latency and CPU above 1 worse."""
    ratios: dict = {}
    ours = at_rate(phases, searches, PAYSAGA, rate)
    for base_name, suffix in ((BASELINE, ""), (ALL_LOCAL, "_vs_all_local")):
        if PAYSAGA in searches and base_name in searches:
            ratios[f"max_sustained_rate{suffix}"] = _ratio(
                searches[PAYSAGA].max_sustained_rate, searches[base_name].max_sustained_rate
            )
        base = at_rate(phases, searches, base_name, rate)
        if ours is None or base is None:
            continue
        ratios[f"achieved_rate{suffix}"] = _ratio(ours.achieved_rate, base.achieved_rate)
        if ours.final_latency and base.final_latency:
            ratios[f"final_p50{suffix}"] = _ratio(ours.final_latency.p50, base.final_latency.p50)
            ratios[f"final_p99{suffix}"] = _ratio(ours.final_latency.p99, base.final_latency.p99)
        if ours.accept_latency and base.final_latency:
            # What each caller waits for before it knows the outcome (find_max explains).
            ratios[f"post_p99_vs_result_p99{suffix}"] = _ratio(
                ours.accept_latency.p99, base.final_latency.p99
            )
    own = cpu_per_payment(ours, OWN_PROCESSES)
    if own is not None:
        base = at_rate(phases, searches, BASELINE, rate)
        ratios["own_cpu_vs_baseline_worker"] = _ratio(
            own, cpu_per_payment(base, ("baseline worker",))
        )
    return {name: value for name, value in ratios.items() if value is not None}


def _target(
    value: float | None, target: float, met: bool, note: str, *, enforced: bool = True
) -> dict:
    known = value is not None
    return {
        "value": value,
        "target": target,
        "met": met if known else None,
        "enforced": enforced,
        "note": note,
    }


def targets(
    phases: dict[str, PhaseResult],
    searches: dict[str, FindMaxResult],
    rate: float,
    long_run: LongRunResult | None = None,
) -> dict:
    found: dict = {}
    ratios = _ratios(phases, searches, rate)
    at = f"at {rate:g}/s"
    for name, bound, higher_is_better, note in (
        ("achieved_rate", RATE_VS_BASELINE, True, f"achieved rate ÷ baseline's {at}"),
        ("max_sustained_rate", MAX_RATE_VS_BASELINE, True, "highest sustained ÷ baseline's"),
        (
            "own_cpu_vs_baseline_worker",
            CPU_VS_BASELINE_WORKER,
            False,
            f"CPU per payment, {' + '.join(OWN_PROCESSES)} ÷ baseline worker, {at}",
        ),
        (
            "post_p99_vs_result_p99",
            POST_P99_VS_BASELINE,
            False,
            f"POST p99 ÷ baseline's start-to-result p99 {at}",
        ),
    ):
        if name in ratios:
            value = ratios[name]
            met = value >= bound if higher_is_better else value <= bound
            found[name] = _target(value, bound, met, note)
    if PAYSAGA in searches:
        best = searches[PAYSAGA].max_sustained_rate
        found["sustained_rate_per_s"] = _target(
            best,
            round(PRODUCT_RATE_GOAL, 1),
            (best or 0) >= PRODUCT_RATE_GOAL,
            "5,000/min, absolute: reported only",
            enforced=False,
        )
    ours = at_rate(phases, searches, PAYSAGA, rate)
    if ours and ours.processes and "worker" in ours.processes:
        rss = ours.processes["worker"].peak_rss_mb
        found["worker_peak_rss_mb"] = _target(
            rss, WORKER_RSS_TARGET_MB, rss < WORKER_RSS_TARGET_MB, f"over {ours.window_seconds:g}s"
        )
    if long_run is not None:
        found.update(_long_run_targets(long_run))
    return found


def _long_run_targets(long_run: LongRunResult) -> dict:
    phase = long_run.phase
    held = f"{phase.duration:g}s at {phase.offered_rate:g}/s"
    growth = long_run.p99_end_vs_start
    found = {
        "long_run_p99_end_vs_start": _target(
            growth,
            LONG_RUN_P99_GROWTH,
            growth is not None and growth <= LONG_RUN_P99_GROWTH,
            f"POST p99, last ÷ first {long_run.window_payments} payments of {held}",
        )
    }
    rss = long_run.worker_peak_rss_mb
    if rss is not None:
        found["long_run_worker_peak_rss_mb"] = _target(
            rss, WORKER_RSS_TARGET_MB, rss < WORKER_RSS_TARGET_MB, f"worker, over {held}"
        )
    return found


def missed_targets(doc: dict) -> list[str]:
    """One line per enforced target the run missed (a target it could not measure is none)."""
    return [
        f"target missed: {name} {target['value']} (target {target['target']}; {target['note']})"
        for name, target in doc.get("targets", {}).items()
        if target["enforced"] and target["met"] is False
    ]


def write_json(doc: dict, path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")


def conclude(doc: dict, out: str | None, missed: list[str], console: Console) -> int:
    """Write the document when asked, say each missed target, and give the exit status."""
    doc["failures"] = missed
    if out:
        write_json(doc, Path(out))
        console.print(f"Result written to {out}")
    for problem in missed:
        console.print(f"[red]paysaga bench: {escape(problem)}[/]")
    return 1 if missed else 0


def _jsonable(value: object) -> object:
    from dataclasses import asdict
    from dataclasses import is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ------------------------------------------------------------------------- printing


def print_report(doc: dict, console: Console) -> None:
    if doc["phases"]:
        console.print(_phases_table(doc["phases"], doc["ratios"]))
        console.print(_process_table(doc["phases"]))
    for search in doc["find_max"].values():
        console.print(_search_table(search))
    _print_long_run(doc.get("long_run"), console)
    if doc["targets"]:
        console.print(_targets_table(doc["targets"]))
    _print_verification(doc, console)


def _ms(latency: dict | None, key: str) -> str:
    return f"{latency[key]:.0f}" if latency else "—"


def _phases_table(phases: dict, ratios: dict) -> Table:
    names = list(phases)
    table = Table(title="Load (latencies in ms from the scheduled start)")
    table.add_column("")
    for name in names:
        table.add_column(name, justify="right")
    # paysaga ÷ each baseline that ran beside it (the ratios' key suffixes).
    compared = [
        (base, suffix)
        for base, suffix in ((BASELINE, ""), (ALL_LOCAL, "_vs_all_local"))
        if PAYSAGA in phases and base in phases
    ]
    for base, _ in compared:
        table.add_column(f"paysaga ÷ {base}", justify="right")

    def row(label: str, values: list[str], ratio: str | None = None) -> None:
        extra = [
            f"{ratios[ratio + suffix]:.2f}x" if ratio and ratio + suffix in ratios else "—"
            for _, suffix in compared
        ]
        table.add_row(label, *values, *extra)

    row("offered /s", [f"{phases[n]['offered_rate']:g}" for n in names])
    row("achieved /s", [f"{phases[n]['achieved_rate']:.1f}" for n in names], "achieved_rate")
    row("finished / sent", [f"{phases[n]['finished']} / {phases[n]['sent']}" for n in names])
    for key in ("p50", "p95", "p99", "max"):
        row(f"accept {key}", [_ms(phases[n]["accept_latency"], key) for n in names])
    for key in ("p50", "p95", "p99", "max"):
        row(
            f"final {key}",
            [_ms(phases[n]["final_latency"], key) for n in names],
            f"final_{key}" if key in ("p50", "p99") else None,
        )
    row("errors", [_errors(phases[n]["errors"]) for n in names])
    table.caption = "accept = POST /v1/payments (paysaga) or start_workflow (baselines)"
    return table


def _errors(errors: dict) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in errors.items()) or "0"


def _process_table(phases: dict) -> Table:
    table = Table(title="Processes over the measured window")
    for column in ("phase", "process", "CPU s", "CPU % of one core", "peak RSS MB"):
        table.add_column(column, justify="left" if column in ("phase", "process") else "right")
    for name, phase in phases.items():
        processes = phase["processes"]
        if not processes:
            table.add_row(name, "unavailable (pass --pids)", "—", "—", "—")
            continue
        wall = phase["window_seconds"] or 1
        for process, usage in processes.items():
            table.add_row(
                name,
                process,
                f"{usage['cpu_seconds']:.1f}",
                f"{100 * usage['cpu_seconds'] / wall:.0f}",
                f"{usage['peak_rss_mb']:.0f}" if usage["peak_rss_mb"] else "—",
            )
    return table


def _search_table(search: dict) -> Table:
    table = Table(
        title=f"find-max {search['name']}: highest sustained {search['max_sustained_rate']} /s",
        caption=f"stopped: {search['stopped_because']}",
    )
    for column in ("offered /s", "achieved /s", "accept p50", "accept p99", "final p99", "errors"):
        table.add_column(column, justify="right")
    for step in search["steps"]:
        table.add_row(
            f"{step['offered_rate']:g}",
            f"{step['achieved_rate']:.1f}",
            _ms(step["accept_latency"], "p50"),
            _ms(step["accept_latency"], "p99"),
            _ms(step["final_latency"], "p99"),
            _errors(step["errors"]),
        )
    return table


def _print_long_run(long_run: dict | None, console: Console) -> None:
    if long_run is None:
        return
    if "skipped" in long_run:
        console.print(f"[red]Long run not run[/]: {escape(long_run['skipped'])}")
        return
    phase = long_run["phase"]
    console.print(_phases_table({phase["name"]: phase}, {}))
    console.print(_process_table({phase["name"]: phase}))
    table = Table(
        title=f"Long run: {long_run['seconds']:g}s at {long_run['rate']:g}/s "
        f"({long_run['rate_from']})",
        caption=f"windows: {long_run['windows']}, {long_run['window_payments']} each; "
        "RSS slope: least squares after the first window",
    )
    for column in ("", "first window", "last window", "last ÷ first"):
        table.add_column(column, justify="right")
    growth = long_run["p99_end_vs_start"]
    table.add_row(
        "POST p99 ms",
        _ms(long_run["start_window_post_latency"], "p99"),
        _ms(long_run["end_window_post_latency"], "p99"),
        "—" if growth is None else f"{growth:.2f}x",
    )
    console.print(table)
    rss = Table(title="RSS over the long run, MB")
    for column in ("process", "start", "end", "peak", "slope MB/min"):
        rss.add_column(column, justify="left" if column == "process" else "right")
    for name, trend in long_run["rss"].items():
        slope = trend["slope_mb_per_min"]
        rss.add_row(
            name,
            f"{trend['start_mb']:.0f}",
            f"{trend['end_mb']:.0f}",
            f"{trend['peak_mb']:.0f}",
            "—" if slope is None else f"{slope:+.2f}",
        )
    console.print(rss)


def _targets_table(targets: dict) -> Table:
    table = Table(title="Targets")
    for column in ("target", "value", "goal", "met", "note"):
        table.add_column(column)
    for name, target in targets.items():
        met = {True: "[green]yes[/]", False: "[red]no[/]", None: "—"}[target["met"]]
        if not target["enforced"] and target["met"] is False:
            met = "[yellow]no[/]"
        table.add_row(name, str(target["value"]), str(target["target"]), met, target["note"])
    return table


def _print_verification(doc: dict, console: Console) -> None:
    unanswered = doc["unanswered_requests"]
    if unanswered["requests"]:
        console.print(
            f"{unanswered['requests']} requests got no payment back; "
            f"{unanswered['saga_started']} of them started a saga anyway (verified below)"
        )
    verification = doc["verification"]
    statuses = ", ".join(f"{k} {v}" for k, v in verification["statuses"].items()) or "none"
    if verification["ok"]:
        console.print(
            f"[green]Verification ok[/]: {verification['payments']} payments ({statuses}); "
            "each charged once, ledger balanced and matching, read model agrees"
        )
        return
    console.print(f"[red]Verification FAILED[/] over {verification['payments']} payments:")
    for problem in verification["problems"][:20]:
        console.print(f"  - {problem}", markup=False)
    if len(verification["problems"]) > 20:
        console.print(f"  ... and {len(verification['problems']) - 20} more")
