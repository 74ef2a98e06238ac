"""The gateway's state in its own SQLite file (WAL), surviving restarts.

One connection behind a ``threading.Lock``; callers run ``Store`` methods in a worker thread
(``asyncio.to_thread``) so the event loop never waits on the disk. Every state change and the
idempotency record that describes it are written in one ``BEGIN IMMEDIATE`` transaction.
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path

OPERATIONS = ("charge", "capture", "void", "refund", "confirm")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS charges (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    customer_id TEXT,
    payment_method TEXT NOT NULL,
    capture_requested INTEGER NOT NULL,
    amount_authorized INTEGER NOT NULL DEFAULT 0,
    amount_captured INTEGER NOT NULL DEFAULT 0,
    amount_refunded INTEGER NOT NULL DEFAULT 0,
    challenge TEXT,            -- 3-D Secure: NULL, pending, succeeded, failed
    next_action_url TEXT,
    capture_error TEXT,        -- JSON {code, message} of the last refused capture
    failure TEXT,              -- JSON {code, decline_code, message} of a declined charge
    created TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_by_reference ON charges (reference);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body TEXT NOT NULL,
    replays INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    PRIMARY KEY (method, path, key)
);
CREATE TABLE IF NOT EXISTS applications (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    charge_id TEXT,
    status_code INTEGER NOT NULL,
    created TEXT NOT NULL
);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Charge:
    id: str
    status: str
    amount: int
    currency: str
    reference: str
    customer_id: str | None
    payment_method: str
    capture_requested: bool
    amount_authorized: int = 0
    amount_captured: int = 0
    amount_refunded: int = 0
    challenge: str | None = None
    next_action_url: str | None = None
    capture_error: str | None = None
    failure: str | None = None
    created: str = ""


_CHARGE_COLUMNS = [f.name for f in fields(Charge)]


@dataclass(frozen=True)
class Record:
    """A stored answer to an idempotent request."""

    request_hash: str
    status_code: int
    body: str


class Tx:
    """Operations inside one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def get_charge(self, charge_id: str) -> Charge | None:
        row = self._conn.execute(
            f"SELECT {', '.join(_CHARGE_COLUMNS)} FROM charges WHERE id = ?",  # noqa: S608
            (charge_id,),
        ).fetchone()
        if row is None:
            return None
        charge = Charge(*row)
        charge.capture_requested = bool(charge.capture_requested)
        return charge

    def insert_charge(self, charge: Charge) -> None:
        marks = ", ".join("?" for _ in _CHARGE_COLUMNS)
        self._conn.execute(
            f"INSERT INTO charges ({', '.join(_CHARGE_COLUMNS)}) VALUES ({marks})",  # noqa: S608
            tuple(asdict(charge).values()),
        )

    def update_charge(self, charge: Charge) -> None:
        values = asdict(charge)
        charge_id = values.pop("id")
        sets = ", ".join(f"{name} = ?" for name in values)
        self._conn.execute(
            f"UPDATE charges SET {sets} WHERE id = ?",  # noqa: S608
            (*values.values(), charge_id),
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
        self._conn.executescript(_SCHEMA)

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
