"""``paysaga bench --billing-day``: many subscriptions charged at the same moment.

Creates a monthly plan and ``--subscriptions`` subscriptions through the API, all starting
(hence charging their first period) at one instant T, far enough ahead for the creation to
finish first. From T it waits until every period is charged and reports how long the
billing day took (target: < 10 minutes for 10,000 on this machine), the processes' CPU and
peak memory, then verifies: one payment per subscription period (``billing_key``), one
charge per payment at the gateway, the ledger balanced and every payment booked once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select

from schemas.runtime.temporal_client import connect
from schemas.store.database import make_engine
from schemas.store.tables import PaymentRecord
from schemas.store.tables import SubscriptionRecord
from workers.tools.bench.drivers import TENANT
from workers.tools.bench.processes import ProcessMeter
from workers.tools.bench.runner import Targets
from workers.tools.bench.runner import progress_bars
from workers.tools.bench.runner import run_on_stack
from workers.tools.verification import verify_payments

TARGET_SECONDS = 600.0
PLAN_AMOUNT = 1_500
# The first charge is this far past the moment creation is expected to be done.
LEAD_SECONDS = 20.0
# Creating subscriptions is assumed to go at least this fast when choosing T; the report
# says when it did not (then billing overlapped with creation).
ASSUMED_CREATE_RATE = 40.0
SETTLE_SECONDS = 1_800.0
# The bench creates far more subscriptions per second than a tenant may by default.
STACK_ENV = {"PAYSAGA_RATE_LIMIT_PER_SECOND": "100000", "PAYSAGA_RATE_LIMIT_BURST": "100000"}


async def _create_subscriptions(
    http: httpx.AsyncClient, count: int, concurrency: int, start_at: datetime, progress: Progress
) -> tuple[list[str], dict[str, int]]:
    plan = await http.post(
        "/v1/plans",
        json={
            "name": "Bench monthly",
            "amount": PLAN_AMOUNT,
            "currency": "USD",
            "interval": "month",
        },
    )
    plan.raise_for_status()
    plan_id = plan.json()["plan_id"]
    run = uuid.uuid4().hex[:8]
    task = progress.add_task("creating subscriptions", total=count, errors=0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    created: list[str] = []
    errors: Counter = Counter()

    async def creator() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            body = {
                "customer_id": f"cus_bench_{run}_{i}",
                "plan_id": plan_id,
                "payment_method": "tok_visa",
                "start_at": start_at.isoformat(),
            }
            headers = {"Idempotency-Key": f"bench-{run}-{i}"}
            try:
                response = await http.post("/v1/subscriptions", json=body, headers=headers)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
            else:
                if response.status_code == 201:
                    created.append(response.json()["subscription_id"])
                else:
                    errors[f"http_{response.status_code}"] += 1
            progress.update(task, advance=1, errors=sum(errors.values()))

    await asyncio.gather(*(creator() for _ in range(concurrency)))
    return created, dict(errors)


def _billed(engine: Engine) -> tuple[int, int]:
    """(payments in a final status, of which succeeded)."""
    with Session(engine) as session:
        rows = dict(
            session.exec(
                select(PaymentRecord.status, func.count()).group_by(PaymentRecord.status)
            ).all()
        )
    finals = sum(n for status, n in rows.items() if status != "processing")
    return finals, rows.get("succeeded", 0)


async def _wait_billed(engine: Engine, expected: int, progress: Progress) -> float | None:
    """Seconds until ``expected`` payments are final, or None when they never were."""
    task = progress.add_task("billing day", total=expected, errors=0)
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_SECONDS:
        finals, succeeded = await asyncio.to_thread(_billed, engine)
        progress.update(task, completed=finals, errors=finals - succeeded)
        if finals >= expected:
            return time.monotonic() - started
        await asyncio.sleep(1.0)
    return None


def _per_period(engine: Engine) -> tuple[list[str], dict[str, int], Counter]:
    """Every payment id, payments per billing key beyond one, subscriptions by status."""
    with Session(engine) as session:
        payments = session.exec(select(PaymentRecord.payment_id, PaymentRecord.state_json)).all()
        statuses = Counter(
            dict(
                session.exec(
                    select(SubscriptionRecord.status, func.count()).group_by(
                        SubscriptionRecord.status
                    )
                ).all()
            )
        )
    keys = Counter(json.loads(state)["metadata"].get("billing_key") for _, state in payments)
    repeated = {key: n for key, n in keys.items() if n > 1}
    return [payment_id for payment_id, _ in payments], repeated, statuses


async def run(args: argparse.Namespace, targets: Targets, console: Console) -> dict:
    engine = make_engine(targets.database_url)
    temporal = await connect(targets.temporal)
    progress = progress_bars()
    lead = LEAD_SECONDS + args.subscriptions / ASSUMED_CREATE_RATE
    start_at = (datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
    try:
        async with httpx.AsyncClient(
            base_url=targets.api_url, timeout=120, headers=targets.api_headers
        ) as http:
            with progress:
                began = time.monotonic()
                created, errors = await _create_subscriptions(
                    http, args.subscriptions, args.create_concurrency, start_at, progress
                )
                create_seconds = time.monotonic() - began
                late = datetime.now(UTC) > start_at
                await asyncio.sleep(max(0.0, (start_at - datetime.now(UTC)).total_seconds()))
                meter = ProcessMeter.with_self(targets.pids) if targets.pids else None
                if meter is not None:
                    meter.start()
                billing_seconds = await _wait_billed(engine, len(created), progress)
                usage = meter.stop() if meter is not None else {}
        payment_ids, repeated, statuses = await asyncio.to_thread(_per_period, engine)
        console.print(f"Verifying {len(payment_ids)} payments...")
        verification = await verify_payments(
            payment_ids,
            client=temporal,
            gateway_url=targets.gateway_url,
            gateway_headers=targets.gateway_headers,
            engine=engine,
            tenant_id=TENANT,
            settle_seconds=60.0,
        )
    finally:
        engine.dispose()
    return {
        "case": "billing_day",
        "subscriptions": {"requested": args.subscriptions, "created": len(created)},
        "create": {
            "seconds": round(create_seconds, 1),
            "per_second": round(len(created) / create_seconds, 1) if create_seconds else None,
            "errors": errors,
            "overlapped_billing": late,
        },
        "billing_day_seconds": None if billing_seconds is None else round(billing_seconds, 1),
        "charges_per_second": (
            round(len(created) / billing_seconds, 1) if billing_seconds else None
        ),
        "target": {"seconds": TARGET_SECONDS, "applies": args.subscriptions >= 10_000},
        "processes": {
            name: {"cpu_seconds": u.cpu_seconds, "peak_rss_mb": u.peak_rss_mb}
            for name, u in usage.items()
        },
        "subscription_statuses": dict(statuses),
        "periods_charged_more_than_once": repeated,
        "verification": verification.as_dict() | {"problems": verification.problems()},
    }


def failures(document: dict) -> list[str]:
    found = [] if document["verification"]["ok"] else ["verification failed"]
    if document["periods_charged_more_than_once"]:
        found.append(f"periods paid twice: {document['periods_charged_more_than_once']}")
    if document["billing_day_seconds"] is None:
        found.append("the billing day did not finish")
    created = document["subscriptions"]["created"]
    if created < document["subscriptions"]["requested"]:
        found.append(f"only {created} subscriptions created: {document['create']['errors']}")
    if document["verification"]["payments"] != created:
        found.append(f"{document['verification']['payments']} payments for {created} periods")
    return found


def print_report(document: dict, console: Console) -> None:
    table = Table(title="Billing day", show_header=False)
    subs = document["subscriptions"]
    create = document["create"]
    table.add_row("subscriptions", f"{subs['created']} of {subs['requested']}")
    table.add_row("created in", f"{create['seconds']} s ({create['per_second']}/s)")
    seconds = document["billing_day_seconds"]
    target = document["target"]
    met = seconds is not None and seconds < target["seconds"]
    verdict = "" if not target["applies"] else (" (met)" if met else " (missed)")
    table.add_row(
        "billing day",
        "did not finish"
        if seconds is None
        else f"{seconds} s, {document['charges_per_second']}"
        f" charges/s; target < {target['seconds']:g} s{verdict}",
    )
    for name, usage in document["processes"].items():
        table.add_row(name, f"{usage['cpu_seconds']} CPU s, peak RSS {usage['peak_rss_mb']} MB")
    table.add_row("subscriptions by status", json.dumps(document["subscription_statuses"]))
    table.add_row("verification", "ok" if document["verification"]["ok"] else "FAILED")
    console.print(table)


def main(args: argparse.Namespace) -> int:
    return run_on_stack(args, run, print_report, failures, extra_env=STACK_ENV)
