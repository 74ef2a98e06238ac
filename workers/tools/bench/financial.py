"""``paysaga bench --financial-report``: the financial report over a large ledger.

Migrates a database (by default a scratch PostgreSQL database, dropped afterwards), loads
``--postings`` postings (``financial_data``), ANALYZEs, then times
``schemas.store.reports.financial_report`` for the largest tenant over the last 30 days and over
the whole range (``--report-runs`` runs each), and checks every tenant's report of both
periods against the loader's own totals. Exits 1 when a report disagrees with them; the
speed target (< 1 s per report on PostgreSQL) is stated, as the other bench targets are.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from schemas.store.database import make_engine
from schemas.store.database import upgrade
from schemas.store.reports import financial_report
from workers.tools.bench import financial_data as data

TARGET_SECONDS = 1.0
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class BenchError(Exception):
    """The bench could not run (database unreachable or not empty)."""


def admin_url() -> str:
    return os.environ.get("PAYSAGA_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


@contextmanager
def bench_database(url: str | None, console: Console) -> Iterator[str]:
    """The database to load: ``url`` as given (kept afterwards), else a scratch PostgreSQL
    database created next to PAYSAGA_TEST_POSTGRES_URL's and dropped at the end."""
    if url:
        yield url
        return
    admin = create_engine(
        admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    name = f"paysaga_bench_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:
        admin.dispose()
        where = make_url(admin_url()).render_as_string(hide_password=True)
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise BenchError(f"PostgreSQL at {where} is not reachable: {reason}") from None
    scratch = make_url(admin_url()).set(database=name)
    console.print(f"Scratch database {name} (dropped at the end)")
    try:
        yield scratch.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _require_empty(engine: Engine) -> None:
    with engine.connect() as connection:
        entries = connection.execute(text("SELECT count(*) FROM journal_entries")).scalar_one()
    if entries:
        where = engine.url.render_as_string(hide_password=True)
        raise BenchError(f"{where} already has {entries} journal entries: give an empty database")


def _analyze(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        # VACUUM as autovacuum would after a load: it also fills the visibility map.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("ledger_accounts", "journal_entries", "postings"):
                connection.execute(text(f"VACUUM ANALYZE {table}"))
    else:
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE")


def _report(engine: Engine, tenant: str, period: data.Period):
    with Session(engine) as session:
        return financial_report(session, tenant, period.start, period.end)


def _timed(engine: Engine, tenant: str, period: data.Period, runs: int) -> dict:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        report = _report(engine, tenant, period)
        seconds.append(time.perf_counter() - started)
    return {
        "tenant": tenant,
        "period": period.name,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "lines": len(report.data),
        "captures": sum(line.captures for line in report.data),
        "runs": runs,
        "seconds": {
            "min": min(seconds),
            "median": statistics.median(seconds),
            "max": max(seconds),
        },
    }


def _verify(engine: Engine, expected: data.Expected) -> dict:
    """Every tenant's report of both periods against the loader's totals."""
    problems: list[str] = []
    reports = 0
    for tenant in data.TENANTS:
        for period in data.PERIODS:
            reports += 1
            report = _report(engine, tenant, period)
            got = {
                (line.currency, line.provider): line.model_dump(exclude={"currency", "provider"})
                for line in report.data
            }
            want = expected.lines(tenant, period.name)
            if got != want:
                problems.append(f"{tenant}, {period.name}: report {got} != loaded {want}")
    return {"ok": not problems, "reports": reports, "problems": problems}


def run(args: argparse.Namespace, console: Console) -> dict:
    postings = args.postings
    with bench_database(args.database_url, console) as url:
        engine = make_engine(url)
        try:
            backend = engine.dialect.name
            upgrade(engine)
            _require_empty(engine)
            console.print(f"Generating {postings:,} postings...")
            started = time.perf_counter()
            ledger = data.generate(postings)
            generated = time.perf_counter() - started
            console.print(f"Loading them into {backend}...")
            started = time.perf_counter()
            phases = data.load(engine, ledger)
            loaded = time.perf_counter() - started
            started = time.perf_counter()
            _analyze(engine)
            analyzed = time.perf_counter() - started
            tenant = data.TENANTS[0]
            console.print(f"Timing the report ({args.report_runs} runs per period)...")
            timings = [_timed(engine, tenant, period, args.report_runs) for period in data.PERIODS]
            verification = _verify(engine, ledger.expected)
        finally:
            engine.dispose()
    from workers.tools.bench.report import machine

    worst = max(timing["seconds"]["max"] for timing in timings)
    return {
        "case": "financial_report",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "backend": backend,
        "data": {
            "postings": ledger.postings,
            "journal_entries": len(ledger.entries),
            "payments": ledger.payments,
            "refunds": ledger.refunds,
            "tenants": dict(zip(data.TENANTS, data.TENANT_WEIGHTS, strict=True)),
            "currencies": list(data.CURRENCIES),
            "providers": list(data.PROVIDERS),
            "days": data.DAYS,
        },
        "load_seconds": {
            "generate": generated,
            "insert": loaded,
            "insert_phases": phases,
            "analyze": analyzed,
            "total": generated + loaded + analyzed,
        },
        "timings": timings,
        "target": {
            "seconds": TARGET_SECONDS,
            "applies": backend == "postgresql",
            "met": worst < TARGET_SECONDS,
        },
        "verification": verification,
    }


def print_report(document: dict, console: Console) -> None:
    load, source = document["load_seconds"], document["data"]
    console.print(
        f"[bold]Financial report[/] on {document['backend']}: {source['postings']:,} postings, "
        f"{source['journal_entries']:,} entries ({source['payments']:,} payments, "
        f"{source['refunds']:,} refunds), {len(source['tenants'])} tenants, "
        f"{source['days']} days, {document['machine']['cpus']} CPUs"
    )
    phases = load["insert_phases"]
    detail = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items())
    console.print(
        f"Load: generate {load['generate']:.1f} s + insert {load['insert']:.1f} s"
        f"{f' ({detail})' if len(phases) > 1 else ''} + analyze {load['analyze']:.1f} s"
        f" = [bold]{load['total']:.1f} s[/]"
    )
    table = Table(title="financial_report(), seconds")
    for column in ("tenant", "period", "lines", "captures", "runs", "min", "median", "max"):
        table.add_column(column, justify="left" if column in ("tenant", "period") else "right")
    for timing in document["timings"]:
        seconds = timing["seconds"]
        table.add_row(
            timing["tenant"],
            timing["period"],
            str(timing["lines"]),
            f"{timing['captures']:,}",
            str(timing["runs"]),
            *(f"{seconds[key]:.3f}" for key in ("min", "median", "max")),
        )
    console.print(table)
    target = document["target"]
    if not target["applies"]:
        verdict = "[yellow]n/a[/] (the target is for PostgreSQL)"
    elif target["met"]:
        verdict = "[green]PASS[/]"
    else:
        verdict = "[red]FAIL[/]"
    console.print(f"Target: every report < {target['seconds']:g} s: {verdict}")
    verification = document["verification"]
    if verification["ok"]:
        console.print(
            f"[green]Verification ok[/]: {verification['reports']} reports (every tenant, "
            "both periods) equal the loader's own totals"
        )
    else:
        console.print("[red]Verification FAILED[/]")
        for problem in verification["problems"]:
            console.print(f"  {escape(problem)}")


def main(args: argparse.Namespace) -> int:
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        document = run(args, console)
    except BenchError as exc:
        console.print(f"[red]paysaga bench: {escape(str(exc))}[/]")
        return 1
    print_report(document, Console(highlight=False, soft_wrap=True))
    if args.out:
        Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
        console.print(f"Result written to {args.out}")
    return 0 if document["verification"]["ok"] else 1
