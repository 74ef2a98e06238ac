"""Engine factory and schema migrations (SQLite embedded, PostgreSQL in prod).

The schema is made and changed only by the Alembic migrations in ``schemas/store/migrations``:
``upgrade()`` (``paysaga db upgrade``) runs them; the API and the worker only check, with
``require_current_schema()``, that the database is at the revision the code expects.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection
from sqlalchemy import Insert
from sqlalchemy import Table
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.engine import make_url
from sqlmodel import create_engine

from schemas.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

# The revision whose schema is the one ``SQLModel.metadata.create_all`` made before there
# were migrations: such a database (tables, no ``alembic_version``) is stamped with it.
BASELINE = "0001"
# Its tables: finding any of them in an unversioned database means create_all made it.
BASELINE_TABLES = frozenset(
    {
        "payments",
        "idempotent_requests",
        "ledger_accounts",
        "journal_entries",
        "postings",
        "tenants",
        "api_keys",
        "audit_events",
        "tenant_rate_limits",
    }
)
MIGRATIONS = Path(__file__).with_name("migrations")
_ALEMBIC_LOCK = threading.Lock()


class SchemaNotCurrentError(RuntimeError):
    """The database is not at the schema revision this code expects."""


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(database_url, pool_pre_ping=True)
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    # Every transaction takes the write lock (below), so a process's threads can only take
    # turns: one pooled connection makes them queue in the pool and wake as soon as it is
    # free, instead of polling the file lock with SQLite's busy-handler sleeps (1-100 ms).
    engine = create_engine(
        database_url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=1,
        max_overflow=0,
    )

    # The API and the worker are separate processes writing one file: WAL lets readers
    # proceed during a write, and busy_timeout makes writers queue instead of failing.
    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, _record):
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # A deferred transaction that reads and then writes fails with SQLITE_BUSY, without
    # waiting, when another process wrote in between; taking the write lock up front makes
    # concurrent writers queue on busy_timeout instead.
    @event.listens_for(engine, "begin")
    def _begin_immediate(connection):
        # On the driver connection: SQLAlchemy's execution path would cost more than the BEGIN.
        connection.connection.driver_connection.execute("BEGIN IMMEDIATE")

    return engine


def dialect_insert(dialect_name: str, table: Table) -> Insert:
    """An INSERT that can take ``ON CONFLICT`` clauses, in the dialect of the connection that
    will run it (``connection.dialect.name``): PostgreSQL in production, SQLite embedded."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


# ----------------------------------------------------------------------- migrations


@dataclass(frozen=True)
class UpgradeResult:
    before: str | None  # the revision the database was at (None: empty or unversioned)
    after: str
    applied: tuple[str, ...]  # "0002 Refunds, payouts and stored ledger balances.", oldest first
    stamped: str | None  # set when an unversioned (create_all) schema was adopted as this

    def __str__(self) -> str:
        said = []
        if self.stamped:
            said.append(f"adopted the tables made before migrations as {self.stamped}")
        if self.applied:
            said.append(f"applied {', '.join(step.split()[0] for step in self.applied)}")
        said.append(f"at {self.after}" if said else f"already at {self.after}")
        return "; ".join(said)


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration, built in code (no alembic.ini): the migrations ship inside
    the ``schemas`` package, so this works from any directory and from an installed wheel.
    ``env.py`` migrates ``connection`` when given, else a new engine on ``url``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # New revisions are named like the others: 0003_add_something.py
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision this code expects."""
    head = script_directory().get_current_head()
    assert head is not None, "no migrations in schemas/store/migrations/versions"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None when it has none (empty, or made by create_all)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return ",".join(heads) if heads else None


def schema_is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def require_current_schema(engine: Engine) -> None:
    """Raise ``SchemaNotCurrentError`` unless the database is at the head revision.

    The API and the worker call this instead of migrating: two processes changing one
    PostgreSQL schema at once is unsafe, so deployments run ``paysaga db upgrade`` first.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    url = engine.url.render_as_string(hide_password=True)
    raise SchemaNotCurrentError(
        f"database schema is at {_describe(engine, current)}, code expects {head}: "
        f"run `paysaga db upgrade` (database {url})"
    )


def _describe(engine: Engine, current: str | None) -> str:
    if current is not None:
        known = {script.revision for script in script_directory().walk_revisions()}
        return current if current in known else f"{current} (unknown to this code: newer?)"
    with engine.connect() as connection:
        names = set(inspect(connection).get_table_names())
    if names & BASELINE_TABLES:
        return "no revision (tables made before migrations)"
    return "no revision (empty database)"


def upgrade(target: Engine | str, revision: str = "head") -> UpgradeResult:
    """Migrate the database (an engine or a URL) to ``revision``, the head by default.

    An unversioned database that already has the tables (made by the former
    ``create_all``) is adopted first: stamped with the head revision when it already matches
    the models exactly, else with ``BASELINE``, so existing data is kept and migrated.
    Everything runs in one transaction (SQLite and PostgreSQL both have transactional DDL)
    under a lock, so a failed or concurrent upgrade leaves the database as it was.
    """
    from alembic import command

    def run(config: Config) -> None:
        config.attributes["adopt_unversioned"] = True
        command.upgrade(config, revision)

    before, after, stamped = _migrate(target, run)
    applied = _revisions_between(stamped or before, after)
    return UpgradeResult(before=before, after=after or "", applied=applied, stamped=stamped)


def downgrade(target: Engine | str, revision: str) -> str | None:
    """Migrate the database down to ``revision`` (``"base"``: drop everything); returns it."""
    from alembic import command

    return _migrate(target, lambda config: command.downgrade(config, revision))[1]


def _migrate(target: Engine | str, run) -> tuple[str | None, str | None, str | None]:
    engine = make_engine(target) if isinstance(target, str) else target
    try:
        # Alembic keeps the running migration in module globals (alembic.context, .op):
        # one at a time per process. Processes take turns on the database's lock (env.py).
        with _ALEMBIC_LOCK, _migrating_alone(engine), migration_connection(engine) as connection:
            config = alembic_config(connection)
            run(config)
        return (
            config.attributes.get("before"),
            current_revision(engine),
            config.attributes.get("stamped"),
        )
    finally:
        if isinstance(target, str):
            engine.dispose()


@contextmanager
def _migrating_alone(engine: Engine) -> Iterator[None]:
    """On a SQLite file, one process at a time from before its first connection: a second
    process that opens the file while the first holds the write lock could try to switch
    it to WAL from a read lock, which SQLite refuses at once ("database is locked") instead
    of waiting (seen once in CI with two concurrent `paysaga db upgrade`). PostgreSQL
    takes turns on an advisory lock (env.py)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    lock_path = Path(f"{database}.migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _revisions_between(lower: str | None, upper: str | None) -> tuple[str, ...]:
    if upper is None or lower == upper:
        return ()
    scripts = script_directory().iterate_revisions(upper, lower or "base")
    return tuple(f"{script.revision} {script.doc}" for script in reversed(list(scripts)))


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection to migrate with. On SQLite, foreign keys are not enforced meanwhile:
    ``batch_alter_table`` rebuilds a table (copy, drop, rename) and dropping a table that
    other rows reference would fail; ``env.py`` runs ``PRAGMA foreign_key_check`` before
    committing instead. The pragma only takes effect outside a transaction: it is issued on
    the DB-API connection before SQLAlchemy begins one."""
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            yield connection
            return
        raw = connection.connection.driver_connection
        assert raw is not None
        enforced = raw.execute("PRAGMA foreign_keys").fetchone()[0]
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            yield connection
        finally:
            if connection.in_transaction():
                connection.rollback()
            raw.execute(f"PRAGMA foreign_keys={'ON' if enforced else 'OFF'}")


def adopt_unversioned(context: MigrationContext) -> str | None:
    """Stamp a database made by ``create_all`` (tables, no version); called by ``env.py``
    inside the migration's transaction. Returns the revision stamped, if any."""
    if context.get_current_heads():
        return None
    connection = context.connection
    assert connection is not None
    if not set(inspect(connection).get_table_names()) & BASELINE_TABLES:
        return None  # empty: the migrations create everything
    from alembic.autogenerate import compare_metadata
    from sqlmodel import SQLModel

    matches_models = not compare_metadata(context, SQLModel.metadata)
    revision = head_revision() if matches_models else BASELINE
    context.stamp(script_directory(), revision)
    return revision
