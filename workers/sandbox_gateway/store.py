"""The gateway's state in its own SQLite file (WAL), surviving restarts.

One connection behind a ``threading.Lock``; callers run ``Store`` methods in a worker thread
(``asyncio.to_thread``) so the event loop never waits on the disk. Every state change, its
balance transaction and the idempotency record that describes it are written in one
``BEGIN IMMEDIATE`` transaction. Tables are in ``schema``, their rows in ``rows``.
"""

import sqlite3
import threading
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import fields
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Protocol
from typing import TypeVar
from typing import get_args

from workers.sandbox_gateway.faults import Operation
from workers.sandbox_gateway.schema import create_or_upgrade

# Every money-moving operation (the ``operations`` of ``/v1/stats``), as faults name them.
OPERATIONS: tuple[str, ...] = get_args(Operation)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RowType(Protocol):
    TABLE: str
    id: str


R = TypeVar("R", bound=RowType)


def _columns(model: type) -> list[str]:
    return [f.name for f in fields(model)]


@dataclass(frozen=True)
class Record:
    """A stored answer to an idempotent request."""

    request_hash: str
    status_code: int
    body: str


class Tx:
    """Operations inside one transaction. Table and column names come from ``rows``, never
    from a request; values are always bound parameters."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get(self, model: type[R], row_id: str) -> R | None:
        rows = self.select(model, "id = ?", (row_id,), limit=1)
        return rows[0] if rows else None

    def select(
        self,
        model: type[R],
        where: str = "1",
        params: Sequence[Any] = (),
        *,
        order: str = "rowid DESC",
        limit: int | None = None,
    ) -> list[R]:
        """Rows of ``model`` matching ``where`` (SQL with ``?`` marks), newest first by default."""
        columns = ", ".join(_columns(model))
        sql = f"SELECT {columns} FROM {model.TABLE} WHERE {where} ORDER BY {order}"  # noqa: S608
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [model(*row) for row in self._conn.execute(sql, tuple(params))]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self._conn.execute(sql, tuple(params)).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, tuple(params)).fetchall()

    def insert(self, row: RowType) -> None:
        values = asdict(row)
        marks = ", ".join("?" for _ in values)
        self._conn.execute(
            f"INSERT INTO {row.TABLE} ({', '.join(values)}) VALUES ({marks})",  # noqa: S608
            tuple(values.values()),
        )

    def update(self, row: RowType) -> None:
        values = asdict(row)
        row_id = values.pop("id")
        sets = ", ".join(f"{name} = ?" for name in values)
        self._conn.execute(
            f"UPDATE {row.TABLE} SET {sets} WHERE id = ?",  # noqa: S608
            (*values.values(), row_id),
        )

    def get_record(self, method: str, path: str, key: str) -> Record | None:
        row = self._conn.execute(
            "SELECT request_hash, status_code, body FROM idempotency_keys "
            "WHERE method = ? AND path = ? AND key = ?",
            (method, path, key),
        ).fetchone()
        return Record(*row) if row else None

    def put_record(self, method: str, path: str, key: str, record: Record) -> None:
        self._conn.execute(
            "INSERT INTO idempotency_keys "
            "(method, path, key, request_hash, status_code, body, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (method, path, key, record.request_hash, record.status_code, record.body, now_iso()),
        )

    def count_replay(self, method: str, path: str, key: str) -> None:
        self._conn.execute(
            "UPDATE idempotency_keys SET replays = replays + 1 "
            "WHERE method = ? AND path = ? AND key = ?",
            (method, path, key),
        )

    def count_application(
        self, key: str, operation: str, charge_id: str | None, status_code: int
    ) -> None:
        self._conn.execute(
            "INSERT INTO applications (key, operation, charge_id, status_code, created) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, operation, charge_id, status_code, now_iso()),
        )


class Store:
    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        create_or_upgrade(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """Commit on success, roll back on any exception (nothing half-applied)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Tx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def stats(self) -> dict:
        with self._lock:
            q = self._conn.execute
            charges_created = q("SELECT COUNT(*) FROM charges").fetchone()[0]
            by_reference = dict(q("SELECT reference, COUNT(*) FROM charges GROUP BY reference"))
            by_status = dict(q("SELECT status, COUNT(*) FROM charges GROUP BY status"))
            applied = dict(q("SELECT key, COUNT(*) FROM applications GROUP BY key"))
            replays = dict(
                q("SELECT key, SUM(replays) FROM idempotency_keys WHERE replays > 0 GROUP BY key")
            )
            operations = dict.fromkeys(OPERATIONS, 0)
            operations.update(q("SELECT operation, COUNT(*) FROM applications GROUP BY operation"))
        return {
            "charges_created": charges_created,
            "charges_by_reference": by_reference,
            "charges_by_status": by_status,
            "applied_by_key": applied,
            "replays_by_key": replays,
            "operations": operations,
        }

    def close(self) -> None:
        with self._lock:
            self._conn.close()
