"""Alembic environment of the paysaga database (SQLite embedded, PostgreSQL in production).

Alembic is driven from code, without an alembic.ini: ``schemas.store.database.alembic_config()``
points it here, and ``upgrade()`` / ``paysaga db upgrade`` run it. The target metadata is
``SQLModel.metadata`` (``schemas/store/tables.py``); revisions are ``versions/NNNN_slug.py``.

After editing ``schemas/store/tables.py``, regenerate the schema operations of the newest
migration (0002 today; hand-written code outside the "commands auto generated" markers,
such as 0002's backfill, is kept), then review ``git diff`` and run
``pytest tests/schemas``::

    .venv/bin/python -m schemas.store.migrations redraft 0002

Once a migration has been released, never edit it: start a new one instead, drafted
against a throwaway database at head::

    .venv/bin/python -m schemas.store.migrations new "add payouts.arrival_date"

``python -m schemas.store.migrations draft [--since REV]`` only prints the operations.

Conventions: every operation is rendered for ``batch_alter_table`` (SQLite can only change
a column by rebuilding the table; on PostgreSQL batch operations are plain ALTERs); types
are plain SQLAlchemy types (``sa.String(length=40)``, ``sa.DateTime(timezone=True)``), not
sqlmodel's, so a migration never changes when sqlmodel does; the whole upgrade runs in one
transaction, under an advisory lock on PostgreSQL.
"""

from alembic import context
from sqlalchemy import Connection
from sqlalchemy import text
from sqlmodel import SQLModel

from schemas.store import tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from schemas.store.database import adopt_unversioned
from schemas.store.database import make_engine
from schemas.store.database import migration_connection
from schemas.store.migrations import render_item

config = context.config
target_metadata = SQLModel.metadata
# pg_advisory_xact_lock key: two `paysaga db upgrade` at once take turns.
POSTGRES_LOCK_KEY = 0x7061_7973_6167_61  # "paysaga"


def configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,
        render_item=render_item,
        # SQLite's DDL is transactional too (make_engine issues BEGIN itself): one
        # transaction for the whole upgrade, so a failure leaves the database untouched.
        transactional_ddl=True,
        **kwargs,
    )


def run_online(connection: Connection) -> None:
    configure(connection=connection)
    with context.begin_transaction():
        dialect = connection.dialect.name
        if dialect == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY}
            )
        migration = context.get_context()
        config.attributes["before"] = ",".join(migration.get_current_heads()) or None
        if config.attributes.get("adopt_unversioned"):
            config.attributes["stamped"] = adopt_unversioned(migration)
        context.run_migrations()
        if dialect == "sqlite":
            # Foreign keys were not enforced while tables were rebuilt (migration_connection).
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration broke foreign keys: {broken[:10]}")


def main() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():  # `--sql`: print the SQL instead of running it
        configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run_online(connection)
        return
    if url is None:
        from schemas.runtime.settings import Settings

        url = Settings().database_url
    engine = make_engine(url)
    try:
        with migration_connection(engine) as connection:
            run_online(connection)
    finally:
        engine.dispose()


main()
