"""The result of a chaos run: violations, the summary table and the JSON document."""

import json
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select

from schemas.store.tables import Posting
from workers.tools.chaos.client import ClientStats
from workers.tools.chaos.config import EXPECTED
from workers.tools.chaos.config import ChaosConfig
from workers.tools.chaos.config import PaymentPlan
from workers.tools.chaos.monkey import ChaosStats
from workers.tools.verification import Verification


def ledger_imbalance(engine: Engine) -> int:
    """Sum over currencies of |sum of every posting|: 0 for a balanced ledger."""
    with Session(engine) as session:
        totals = session.exec(
            select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency)
        ).all()
    return sum(abs(int(total or 0)) for _, total in totals)


def payment_violations(plans: list[PaymentPlan]) -> list[str]:
    """What the client saw: calls that never succeeded, outcomes the scenario cannot have."""
    found = []
    for plan in plans:
        found += [f"{plan.key} ({plan.scenario}): {error}" for error in plan.errors]
        if plan.final is None:
            continue
        status = plan.final["status"]
        if status not in EXPECTED[plan.scenario]:
            found.append(
                f"{plan.payment_id} ({plan.scenario}) ended {status}: "
                f"{plan.final.get('failure_code')} {plan.final.get('failure_message')}"
            )
        elif status == "succeeded" and plan.capture_method == "manual":
            wanted = plan.capture_amount or plan.amount
            if plan.final["captured_amount"] != wanted:
                found.append(
                    f"{plan.payment_id} captured {plan.final['captured_amount']}, asked {wanted}"
                )
    return found


def compensations(plans: list[PaymentPlan]) -> Counter:
    """Compensation steps in the final states, by outcome (``skipped``: nothing to undo)."""
    counted: Counter = Counter()
    for plan in plans:
        for step in (plan.final or {}).get("steps", []):
            if step.get("kind") == "compensation":
                counted[step["outcome"]] += 1
    return counted


def build_result(
    *,
    config: ChaosConfig,
    plans: list[PaymentPlan],
    client: ClientStats,
    chaos: ChaosStats,
    verification: Verification | None,
    gateway_stats: dict,
    imbalance: int,
    wall_seconds: float,
    violations: list[str],
    reconciled: dict | None = None,
    reconciliation_mismatches: list[dict] | None = None,
) -> dict:
    violations = list(violations)
    if verification is not None:
        violations += verification.problems()
    violations += payment_violations(plans)
    doubled = {k: n for k, n in gateway_stats.get("applied_by_key", {}).items() if n > 1}
    violations += [f"gateway applied key {k} {n}x" for k, n in doubled.items()]
    if imbalance:
        violations.append(f"ledger imbalance {imbalance}")
    if chaos.worker_kills < config.worker_kills:
        violations.append(f"only {chaos.worker_kills} of {config.worker_kills} worker kills ran")
    if chaos.server_restarts < config.server_restarts:
        violations.append(
            f"only {chaos.server_restarts} of {config.server_restarts} server restarts ran"
        )
    duplicates = (len(verification.duplicate_charges) if verification else 0) + len(doubled)
    not_final = sorted(
        set(verification.not_final if verification else [])
        | {p.key for p in plans if p.final is None}
    )
    compensated = compensations(plans)
    return {
        "ok": not violations,
        "config": config.as_dict(),
        "payments": len(plans),
        "statuses": dict(verification.statuses) if verification else {},
        "scenarios": dict(Counter(p.scenario for p in plans)),
        "all_final": not not_final,
        "not_final": not_final,
        "worker_kills": chaos.worker_kills,
        "server_restarts": chaos.server_restarts,
        "faults_injected": {
            kind: chaos.faults_injected[kind] for kind in sorted(chaos.fault_windows)
        },
        "fault_windows": dict(chaos.fault_windows),
        "client_calls": client.calls,
        "client_retries": client.retries,
        "client_retries_by_reason": dict(client.retries_by_reason),
        "client_answers": dict(sorted(client.answers.items())),
        "client_accepted_refusals": client.accepted,
        "gateway_replays": sum(gateway_stats.get("replays_by_key", {}).values()),
        "compensations": sum(compensated.values()),
        "compensations_by_outcome": dict(compensated),
        "duplicates": duplicates,
        "imbalance": imbalance,
        "wall_seconds": round(wall_seconds, 1),
        "violations": violations,
        "reconciled": reconciled or {},
        "reconciliation_mismatches": reconciliation_mismatches or [],
        "verification": verification.as_dict() if verification else None,
        "events": chaos.events,
    }


def print_summary(result: dict, console: Console) -> None:
    table = Table(title="paysaga chaos", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("payments", str(result["payments"]))
    for status, n in sorted(result["statuses"].items()):
        table.add_row(f"  {status}", str(n))
    if not result["all_final"]:
        table.add_row("  [red]not final[/]", str(len(result["not_final"])))
    table.add_row("worker kills (SIGKILL)", str(result["worker_kills"]))
    table.add_row("Temporal server restarts (SIGKILL)", str(result["server_restarts"]))
    for kind, n in result["faults_injected"].items():
        unit = "windows" if kind == "slow_responses" else "calls"
        table.add_row(f"faults: {kind.replace('_', ' ')} ({unit})", str(n))
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(result["client_retries_by_reason"].items()))
    table.add_row("client retries (same key)", f"{result['client_retries']} ({reasons or '-'})")
    table.add_row("gateway idempotent replays", str(result["gateway_replays"]))
    outcomes = ", ".join(f"{o} {n}" for o, n in sorted(result["compensations_by_outcome"].items()))
    table.add_row("compensations run", f"{result['compensations']} ({outcomes or '-'})")
    table.add_row("duplicate charges", _flag(result["duplicates"]))
    table.add_row("ledger imbalance", _flag(result["imbalance"]))
    settled = sum(len(ids) for ids in result["reconciled"].values())
    table.add_row("settled by reconciliation", str(settled))
    table.add_row("reconciliation mismatches", _flag(len(result["reconciliation_mismatches"])))
    table.add_row("wall time", f"{result['wall_seconds']:.1f} s")
    table.add_row("result", "[green]OK[/]" if result["ok"] else "[red]VIOLATIONS[/]")
    console.print(table)
    for violation in result["violations"][:50]:
        console.print(f"[red]✗[/] {escape(violation)}", highlight=False)


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, sort_keys=False) + "\n")


def _flag(value: int) -> str:
    return f"[green]{value}[/]" if value == 0 else f"[red]{value}[/]"
