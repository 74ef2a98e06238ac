"""Real databases for the activity tests: a SQLite file and a throwaway PostgreSQL database.

``database_engine`` runs every test that uses it once per backend. PostgreSQL gets one fresh
database per test session (``paysaga_test_<random>``, created from the ``test`` database and
dropped at the end), with every table truncated before each test. The ledger invariants are
asserted after every test, on both backends.
"""

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import SQLModel

from schemas.database import create_schema, make_engine
from tests.support.ledger import assert_ledger_invariants

# The maintenance database we connect to in order to create and drop the per-session one.
POSTGRES_ADMIN_URL = os.environ.get(
    "PAYSAGA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database holding the schema, dropped when the session ends."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"paysaga_test_{uuid.uuid4().hex[:12]}"
    # No skip when PostgreSQL is down: .ci/run starts it, and a missing database must fail.
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """An engine on an empty schema; the ledger invariants are asserted after the test."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'paysaga.db'}")
        create_schema(engine)
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
        _truncate_all(engine)
    yield engine
    try:
        assert_ledger_invariants(engine)
    finally:
        engine.dispose()
