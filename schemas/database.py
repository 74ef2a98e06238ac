"""Engine factory shared by the API and the activities (SQLite embedded, PostgreSQL in prod)."""

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from schemas import tables  # noqa: F401  (registers the tables on SQLModel.metadata)


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
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_schema(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment
