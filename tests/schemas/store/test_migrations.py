"""The Alembic migrations, on SQLite and PostgreSQL: they build exactly the models' schema,
adopt and upgrade databases made by the former ``create_all`` with their data, go down to
the baseline and back, run from the ``paysaga db`` command, and the API and the worker
refuse to start on a database that is not at head."""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy import MetaData
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from schemas.runtime.settings import Settings
from schemas.store.database import BASELINE
from schemas.store.database import SchemaNotCurrentError
from schemas.store.database import current_revision
from schemas.store.database import downgrade
from schemas.store.database import head_revision
from schemas.store.database import make_engine
from schemas.store.database import require_current_schema
from schemas.store.database import schema_is_current
from schemas.store.database import upgrade
from tests.conftest import new_postgres_database
from tests.schemas.store.legacy_tables import LEGACY_METADATA
from tests.support.api_app import running_app
from tests.support.ledger import assert_ledger_invariants
from workers.worker.build import run_worker

HEAD = head_revision()
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
LEGACY = LEGACY_METADATA.tables


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database with nothing in it."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'paysaga.db'}"
        return
    with new_postgres_database(request.getfixturevalue("postgres_admin"), "paysaga_mig") as url:
        yield url


@contextmanager
def connect(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def schema_diff(engine: Engine, metadata: MetaData) -> list:
    """What autogenerate would change to make the database match ``metadata``."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def assert_matches_models(engine: Engine) -> None:
    diff = schema_diff(engine, SQLModel.metadata)
    assert diff == [], (
        "the migrations do not build schemas/store/tables.py; regenerate the newest migration with "
        "`python -m schemas.store.migrations redraft <revision>` "
        "(see schemas/store/migrations/env.py): "
        f"{diff}"
    )


def insert_legacy_ledger(engine: Engine) -> None:
    """Two captures booked the way the code before migrations booked them, and an account
    without postings."""
    with engine.begin() as connection:
        connection.execute(
            LEGACY["ledger_accounts"].insert(),
            [
                {
                    "id": 1,
                    "tenant_id": "ten_a",
                    "code": "provider_clearing:sandbox",
                    "currency": "USD",
                },
                {"id": 2, "tenant_id": "ten_a", "code": "merchant_balance", "currency": "USD"},
                {"id": 3, "tenant_id": "ten_a", "code": "merchant_balance", "currency": "EUR"},
            ],
        )
        connection.execute(
            LEGACY["journal_entries"].insert(),
            [
                {
                    "id": number,
                    "tenant_id": "ten_a",
                    "idempotency_key": f"pay_{number}:capture",
                    "payment_id": f"pay_{number}",
                    "kind": "capture",
                    "description": "capture",
                    "created_at": NOW,
                }
                for number in (1, 2)
            ],
        )
        connection.execute(
            LEGACY["postings"].insert(),
            [
                {"entry_id": 1, "account_id": 1, "amount": 1999, "currency": "USD"},
                {"entry_id": 1, "account_id": 2, "amount": -1999, "currency": "USD"},
                {"entry_id": 2, "account_id": 1, "amount": 500, "currency": "USD"},
                {"entry_id": 2, "account_id": 2, "amount": -500, "currency": "USD"},
            ],
        )


def balances(engine: Engine) -> dict[int, int]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, balance FROM ledger_accounts ORDER BY id"))
        return {account_id: balance for account_id, balance in rows}


def journal(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                text("SELECT id, payment_id, source_id, provider, kind FROM journal_entries")
            )
        )


def test_upgrading_an_empty_database_builds_exactly_the_models(empty_url):
    with connect(empty_url) as engine:
        assert not schema_is_current(engine)
        result = upgrade(engine)
        assert (result.before, result.after, result.stamped) == (None, HEAD, None)
        assert [step.split()[0] for step in result.applied] == [
            "0001",
            "0002",
            "0003",
            "0004",
            "0005",
            "0006",
            "0007",
            "0009",
            "0010",
            "0011",
            "0012",
        ]
        assert_matches_models(engine)
        assert schema_is_current(engine)
        require_current_schema(engine)
        # A second upgrade has nothing to do.
        assert upgrade(engine).applied == ()


def test_the_baseline_is_the_schema_create_all_made_before_migrations(empty_url):
    with connect(empty_url) as engine:
        upgrade(engine, BASELINE)
        assert current_revision(engine) == BASELINE
        assert schema_diff(engine, LEGACY_METADATA) == []


def test_a_database_made_by_create_all_is_stamped_and_upgraded_with_its_data(empty_url):
    with connect(empty_url) as engine:
        LEGACY_METADATA.create_all(engine)
        insert_legacy_ledger(engine)
        with pytest.raises(SchemaNotCurrentError, match="made before migrations"):
            require_current_schema(engine)

        result = upgrade(engine)

        assert (result.before, result.stamped, result.after) == (None, BASELINE, HEAD)
        assert [step.split()[0] for step in result.applied] == [
            "0002",
            "0003",
            "0004",
            "0005",
            "0006",
            "0007",
            "0009",
            "0010",
            "0011",
            "0012",
        ]
        assert_matches_models(engine)
        # Balances backfilled from the postings; source_id from payment_id.
        assert balances(engine) == {1: 2499, 2: -2499, 3: 0}
        assert sorted(journal(engine)) == [
            (1, "pay_1", "pay_1", None, "capture"),
            (2, "pay_2", "pay_2", None, "capture"),
        ]
        assert_ledger_invariants(engine)
        require_current_schema(engine)


def test_concurrent_upgrades_take_turns(empty_url, tmp_path):
    """Two deployments running `paysaga db upgrade` at once: one migrates, the other waits
    for it (advisory lock on PostgreSQL, the write lock on SQLite) and finds it done."""
    runs = [paysaga_process("db", "upgrade", "--database-url", empty_url, cwd=tmp_path)]
    runs.append(paysaga_process("db", "upgrade", "--database-url", empty_url, cwd=tmp_path))
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = sorted(
        sum(line.startswith("applied ") for line in stdout.splitlines()) for stdout, _ in outputs
    )
    assert said == [0, 11], outputs
    with connect(empty_url) as engine:
        assert_matches_models(engine)


def test_a_failed_upgrade_leaves_the_database_as_it_was(empty_url):
    with connect(empty_url) as engine:
        LEGACY_METADATA.create_all(engine)
        insert_legacy_ledger(engine)
        with engine.begin() as connection:  # in the way of 0002's create_table("refunds")
            connection.execute(text("CREATE TABLE refunds (refund_id VARCHAR(40))"))

        with pytest.raises(DBAPIError, match="refunds"):
            upgrade(engine)

        assert current_revision(engine) is None  # not even stamped
        with engine.connect() as connection:
            assert "balance" not in {
                c["name"] for c in inspect(connection).get_columns("ledger_accounts")
            }
        assert schema_diff(engine, LEGACY_METADATA) != []  # the stray refunds table only
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE refunds"))
        assert schema_diff(engine, LEGACY_METADATA) == []


def test_a_database_that_already_matches_the_models_is_stamped_head(empty_url):
    with connect(empty_url) as engine:
        SQLModel.metadata.create_all(engine)
        result = upgrade(engine)
        assert (result.stamped, result.applied, result.after) == (HEAD, (), HEAD)
        assert_matches_models(engine)


def test_downgrade_to_the_baseline_and_back(empty_url):
    with connect(empty_url) as engine:
        LEGACY_METADATA.create_all(engine)
        insert_legacy_ledger(engine)
        upgrade(engine)
        with engine.begin() as connection:
            # A payout's entry: no payment, a kind longer than the old 16 characters.
            connection.execute(
                text(
                    "INSERT INTO journal_entries (id, tenant_id, idempotency_key, payment_id,"
                    " source_id, provider, kind, description, created_at) VALUES (3, 'ten_a',"
                    " 'po_1:paid', NULL, 'po_1', 'sandbox', 'payout_failure_return', 'payout',"
                    " :now)"
                ),
                {"now": NOW},
            )

        assert downgrade(engine, BASELINE) == BASELINE
        assert schema_diff(engine, LEGACY_METADATA) == []
        assert sorted(journal_without_new_columns(engine)) == [
            (1, "pay_1", "capture"),
            (2, "pay_2", "capture"),
            (3, "po_1", "payout_failure_r"),
        ]

        result = upgrade(engine)
        assert result.applied[0].startswith("0002") and result.after == HEAD
        assert_matches_models(engine)
        assert balances(engine) == {1: 2499, 2: -2499, 3: 0}

        assert downgrade(engine, "base") is None
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}


def journal_without_new_columns(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT id, payment_id, kind FROM journal_entries")))


def test_sqlite_enforces_foreign_keys_again_after_a_migration(tmp_path):
    with connect(f"sqlite:///{tmp_path / 'paysaga.db'}") as engine:
        upgrade(engine)
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO postings (entry_id, account_id, amount, currency)"
                    " VALUES (41, 42, 1, 'USD')"
                )
            )


def paysaga_command() -> list[str]:
    script = Path(sys.executable).parent / "paysaga"
    return [str(script)] if script.exists() else [sys.executable, "-m", "workers.cli"]


def paysaga(*args: str, cwd: Path, env: dict[str, str] | None = None):
    return subprocess.run(
        [*paysaga_command(), *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def paysaga_process(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*paysaga_command(), *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_paysaga_db_upgrade_and_current_from_another_directory(tmp_path):
    url = f"sqlite:///{tmp_path / 'data' / 'paysaga.db'}"
    upgraded = paysaga("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "applied 0001" in upgraded.stdout
    assert upgraded.stdout.strip().endswith(f"at {HEAD}")

    # Without --database-url: PAYSAGA_DATABASE_URL.
    current = paysaga("db", "current", cwd=tmp_path, env={"PAYSAGA_DATABASE_URL": url})
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == HEAD

    again = paysaga("db", "upgrade", "--database-url", url, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"already at {HEAD}" in again.stdout


def unmigrated_settings(tmp_path: Path, at: str | None) -> Settings:
    url = f"sqlite:///{tmp_path / 'paysaga.db'}"
    if at is not None:
        upgrade(url, at)
    return Settings(database_url=url, temporal_address="127.0.0.1:1")


EXPECTED = {
    None: rf"database schema is at no revision \(empty database\), code expects {HEAD}: "
    r"run `paysaga db upgrade`",
    BASELINE: rf"database schema is at {BASELINE}, code expects {HEAD}: run `paysaga db upgrade`",
}


@pytest.mark.parametrize("at", [None, BASELINE])
async def test_the_api_refuses_to_start_on_a_database_not_at_head(tmp_path, at):
    with pytest.raises(SchemaNotCurrentError, match=EXPECTED[at]):
        async with running_app(unmigrated_settings(tmp_path, at)):
            pass


async def test_the_api_starts_on_a_migrated_database(tmp_path):
    async with running_app(unmigrated_settings(tmp_path, "head")) as app:
        assert app.state.engine is not None


@pytest.mark.parametrize("at", [None, BASELINE])
async def test_the_worker_refuses_to_start_on_a_database_not_at_head(tmp_path, at):
    settings = unmigrated_settings(tmp_path, at)
    with pytest.raises(SchemaNotCurrentError, match=EXPECTED[at]):
        await asyncio.wait_for(run_worker(settings), timeout=30)


def test_a_database_from_newer_code_is_not_current(tmp_path):
    with connect(f"sqlite:///{tmp_path / 'paysaga.db'}") as engine:
        upgrade(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(SchemaNotCurrentError, match="at 9999 \\(unknown to this code"):
            require_current_schema(engine)


def test_legacy_tables_are_a_separate_metadata():
    # The frozen copy must never register on the models' metadata.
    assert LEGACY_METADATA is not SQLModel.metadata
    assert select(LEGACY["payments"]).get_final_froms()[0].metadata is LEGACY_METADATA
