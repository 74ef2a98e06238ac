"""`paysaga bench --financial-report` for real, with a small ledger, on both backends.

Speed is what the bench measures, never what these tests assert: they check that it loads
what it says, that every report it checks agrees with what it loaded, and the exit code.
"""

import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import text
from sqlmodel import Session
from sqlmodel import select

from schemas.store.database import make_engine
from schemas.store.reports import financial_report
from schemas.store.tables import JournalEntry
from schemas.store.tables import Posting
from tests.support.ledger import assert_ledger_invariants
from tests.support.paysaga_cli import paysaga_command
from workers.tools.bench import financial_data

POSTINGS = 5_000


def run_bench(tmp_path: Path, *flags: str) -> tuple[int, dict, str]:
    out = tmp_path / "result.json"
    cmd = [*paysaga_command(), "bench", "--financial-report", "--out", str(out)]
    # The timeout only keeps a hung database from hanging the suite.
    done = subprocess.run([*cmd, *flags], capture_output=True, text=True, timeout=300)
    report = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, report, done.stdout + done.stderr


def assert_document_sane(report: dict, backend: str) -> None:
    assert report["case"] == "financial_report"
    assert report["backend"] == backend
    assert report["data"]["postings"] == POSTINGS
    assert report["data"]["journal_entries"] == POSTINGS // 2
    assert len(report["data"]["tenants"]) > 1
    assert report["load_seconds"]["total"] > 0
    assert [timing["period"] for timing in report["timings"]] == [
        period.name for period in financial_data.PERIODS
    ]
    for timing in report["timings"]:
        seconds = timing["seconds"]
        assert timing["runs"] == 2
        assert 0 < seconds["min"] <= seconds["median"] <= seconds["max"]
        assert timing["lines"] == 4  # two currencies, two providers
    assert report["target"]["applies"] is (backend == "postgresql")
    verification = report["verification"]
    assert verification["ok"] is True, verification["problems"]
    assert verification["reports"] == len(financial_data.TENANTS) * len(financial_data.PERIODS)


def test_on_sqlite_it_loads_times_and_verifies(tmp_path):
    database = tmp_path / "ledger.db"
    code, report, output = run_bench(
        tmp_path,
        "--postings",
        str(POSTINGS),
        "--report-runs",
        "2",
        "--database-url",
        f"sqlite:///{database}",
    )

    assert code == 0, output
    assert_document_sane(report, "sqlite")
    assert "Verification ok" in output
    # The database named is kept, holding a ledger the rest of paysaga can read.
    engine = make_engine(f"sqlite:///{database}")
    try:
        with Session(engine) as session:
            assert session.exec(select(func.count()).select_from(Posting)).one() == POSTINGS
            assert session.exec(select(func.count()).select_from(JournalEntry)).one() == (
                POSTINGS // 2
            )
            largest = financial_report(
                session,
                financial_data.TENANTS[0],
                financial_data.RANGE_START,
                financial_data.RANGE_END,
            )
        assert sum(line.captures for line in largest.data) == report["timings"][1]["captures"]
        assert_ledger_invariants(engine)
    finally:
        engine.dispose()


def test_on_a_scratch_postgresql_database_it_verifies_and_drops_it(tmp_path, postgres_admin):
    # postgres_admin: skips when PostgreSQL is not reachable (fails under CI).
    code, report, output = run_bench(tmp_path, "--postings", str(POSTINGS), "--report-runs", "2")

    assert code == 0, output
    assert_document_sane(report, "postgresql")
    assert "Target: every report < 1 s:" in output
    with postgres_admin.connect() as connection:
        left = connection.execute(
            text("SELECT datname FROM pg_database WHERE datname LIKE 'paysaga_bench_%'")
        ).all()
    assert not [name for (name,) in left if name in output]


def test_a_database_that_already_has_entries_is_refused(tmp_path):
    database = tmp_path / "ledger.db"
    url = f"sqlite:///{database}"
    flags = ("--postings", "100", "--report-runs", "1", "--database-url", url)
    assert run_bench(tmp_path, *flags)[0] == 0

    code, _, output = run_bench(tmp_path, *flags)

    assert code == 1
    assert "already has 50 journal entries" in output


@pytest.mark.parametrize(
    "flags", [("--baseline",), ("--find-max",), ("--api-url", "http://127.0.0.1:1")]
)
def test_it_runs_alone(tmp_path, flags):
    code, _, output = run_bench(tmp_path, *flags)
    assert code == 2
    assert "--financial-report runs alone" in output
