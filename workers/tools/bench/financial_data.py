"""The financial-report bench's ledger: a realistic mix of journal entries, generated in
memory with what the report must say about it, then bulk-loaded (COPY on PostgreSQL,
``executemany`` in large batches on SQLite).

Entries are what ``schemas.domain.journals`` posts: per card payment a ``capture`` and a ``fee``;
about one payment in ten is (partly) refunded, a ``refund_reserve`` then a ``refund``; about
one in a hundred has a refund the provider refused, a ``refund_reserve`` then a
``refund_release``. Two currencies, two providers, several tenants of different sizes, over
``DAYS`` days, inserted in time order (ids grow with ``created_at``, as in production). The
loader keeps its own totals per tenant, period, currency and provider (``Expected``): the
report is checked against them, a computation that shares nothing with the SQL.
"""

from __future__ import annotations

import bisect
import io
import itertools
import random
import re
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine

from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import REFUND_RESERVE
from schemas.ledger import provider_clearing
from schemas.store.reports import CAPTURE
from schemas.store.reports import FEE
from schemas.store.reports import REFUND
from schemas.store.tables import JournalEntry

DAYS = 90
# The last instant of the data (exclusive); fixed, so every run loads the same ledger.
RANGE_END = datetime(2026, 4, 1, tzinfo=UTC)
RANGE_START = RANGE_END - timedelta(days=DAYS)
TENANTS = ("ten_large", "ten_medium", "ten_small", "ten_tiny")
TENANT_WEIGHTS = (40, 30, 20, 10)
CURRENCIES = ("USD", "EUR")
CURRENCY_WEIGHTS = (70, 30)
PROVIDERS = ("sandbox", "stripe")
PROVIDER_WEIGHTS = (60, 40)
REFUNDED_SHARE = 0.10
REFUSED_REFUND_SHARE = 0.01
SEED = 20260401
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = 1_000_000


def _us(moment: datetime) -> int:
    """Microseconds since the epoch: entries carry their time as an int until loaded."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


# Entry kinds, as small ints while generating: (kind, step of the idempotency key, debit
# account, credit account); "{clearing}" is the provider's clearing account.
_CAPTURE, _FEE, _RESERVE, _REFUND, _RELEASE = range(5)
_KINDS = {
    _CAPTURE: (CAPTURE, "capture", "{clearing}", MERCHANT_BALANCE),
    _FEE: (FEE, "fee", MERCHANT_BALANCE, "{clearing}"),
    _RESERVE: ("refund_reserve", "reserve", MERCHANT_BALANCE, REFUND_RESERVE),
    _REFUND: (REFUND, "refund", REFUND_RESERVE, "{clearing}"),
    _RELEASE: ("refund_release", "release", REFUND_RESERVE, MERCHANT_BALANCE),
}
_FIGURE = {_CAPTURE: ("gross_captured", "captures"), _FEE: ("fees", None)}
_FIGURE[_REFUND] = ("refunded", "refunds")


def fee_for(provider: str, captured: int) -> int:
    """Card pricing: 2.9 % + 30 at the sandbox gateway, 2.5 % + 25 at the other one."""
    if provider == "sandbox":
        return captured * 29 // 1000 + 30
    return captured * 25 // 1000 + 25


@dataclass(frozen=True)
class Period:
    name: str
    start: datetime
    end: datetime

    def __contains__(self, moment_us: int) -> bool:
        return self._bounds[0] <= moment_us < self._bounds[1]

    @property
    def _bounds(self) -> tuple[int, int]:
        return _BOUNDS[self.name]


PERIODS = (
    Period("last 30 days", RANGE_END - timedelta(days=30), RANGE_END),
    Period(f"all {DAYS} days", RANGE_START, RANGE_END),
)
_BOUNDS = {period.name: (_us(period.start), _us(period.end)) for period in PERIODS}


@dataclass
class Expected:
    """Σ per (tenant, period name) → (currency, provider) → figure, as loaded."""

    figures: dict[tuple[str, str], dict[tuple[str, str], dict[str, int]]] = field(
        default_factory=lambda: defaultdict(dict)
    )

    def add(self, tenant: str, moment_us: int, kind: int, currency: str, provider: str, amount):
        figure = _FIGURE.get(kind)
        if figure is None:
            return
        amount_field, count_field = figure
        for period in PERIODS:
            if moment_us in period:
                line = self.figures[tenant, period.name].setdefault(
                    (currency, provider),
                    dict.fromkeys(("gross_captured", "captures", "refunded", "refunds", "fees"), 0),
                )
                line[amount_field] += amount
                if count_field:
                    line[count_field] += 1

    def lines(self, tenant: str, period: str) -> dict[tuple[str, str], dict[str, int]]:
        """What the report must say: the figures and net of each currency and provider."""
        return {
            key: {**line, "net": line["gross_captured"] - line["fees"] - line["refunded"]}
            for key, line in self.figures.get((tenant, period), {}).items()
        }


@dataclass
class Ledger:
    """The generated ledger: entries in time order, as tuples
    (created_at µs, tenant, kind, currency, provider, payment no, refund no, amount)."""

    entries: list[tuple] = field(default_factory=list)
    expected: Expected = field(default_factory=Expected)
    payments: int = 0
    refunds: int = 0

    @property
    def postings(self) -> int:
        return 2 * len(self.entries)


def generate(postings: int, seed: int = SEED) -> Ledger:
    """Entries for ``postings`` postings (rounded up to an even number: two legs each)."""
    rng = random.Random(seed)
    budget = (postings + 1) // 2
    ledger = Ledger()
    entries = ledger.entries
    start_us, end_us = _us(RANGE_START), _us(RANGE_END)
    tenants = _chooser(range(len(TENANTS)), TENANT_WEIGHTS, rng)
    currencies = _chooser(CURRENCIES, CURRENCY_WEIGHTS, rng)
    providers = _chooser(PROVIDERS, PROVIDER_WEIGHTS, rng)
    while len(entries) < budget:
        left = budget - len(entries)
        tenant, currency, provider = tenants(), currencies(), providers()
        # Card amounts: mostly small, a long tail (1.00 to 2,000.00).
        gross = min(200_000, max(100, int(rng.lognormvariate(8.0, 1.0))))
        at = rng.randrange(start_us, end_us - 60 * _US)
        number = ledger.payments
        ledger.payments += 1
        entries.append((at, tenant, _CAPTURE, currency, provider, number, -1, gross))
        fee = fee_for(provider, gross)
        if left >= 2:
            entries.append((at + 200, tenant, _FEE, currency, provider, number, -1, fee))
        if left < 4:
            continue
        draw = rng.random()
        if draw >= REFUNDED_SHARE + REFUSED_REFUND_SHARE:
            continue
        # Hours to days later, never past the range.
        when = at + rng.randrange(3600 * _US, 10 * 86400 * _US)
        if when >= end_us - _US:
            continue
        refundable = gross - fee
        amount = refundable if rng.random() < 0.6 else rng.randint(1, refundable)
        refund = ledger.refunds
        ledger.refunds += 1
        settle = _REFUND if draw < REFUNDED_SHARE else _RELEASE
        entries.append((when, tenant, _RESERVE, currency, provider, number, refund, amount))
        entries.append((when + 500_000, tenant, settle, currency, provider, number, refund, amount))
    entries.sort()
    for at, tenant, kind, currency, provider, _, _, amount in entries:
        ledger.expected.add(TENANTS[tenant], at, kind, currency, provider, amount)
    return ledger


def _chooser(values, weights, rng: random.Random):
    """A function drawing one of ``values`` with ``weights`` (faster than rng.choices)."""
    values, total = list(values), sum(weights)
    bounds = list(itertools.accumulate(weight / total for weight in weights))
    return lambda: values[min(bisect.bisect(bounds, rng.random()), len(values) - 1)]


class Accounts:
    """Ids and final balances of the ledger accounts the entries post to."""

    def __init__(self) -> None:
        self.ids: dict[tuple[int, str, str], int] = {}
        self.balances: dict[int, int] = defaultdict(int)
        for tenant in range(len(TENANTS)):
            for currency in CURRENCIES:
                codes = [MERCHANT_BALANCE, REFUND_RESERVE, *map(provider_clearing, PROVIDERS)]
                for code in codes:
                    self.ids[tenant, code, currency] = len(self.ids) + 1

    def rows(self) -> list[dict]:
        return [
            {
                "id": account_id,
                "tenant_id": TENANTS[tenant],
                "code": code,
                "currency": currency,
                "balance": self.balances[account_id],
            }
            for (tenant, code, currency), account_id in self.ids.items()
        ]


def rows(ledger: Ledger, accounts: Accounts) -> Iterator[tuple[tuple, tuple, tuple]]:
    """(journal entry, debit posting, credit posting) rows, ids from 1 in time order; the
    entry's ``created_at`` is an aware UTC datetime. Also sums the accounts' balances."""
    clearing = {provider: provider_clearing(provider) for provider in PROVIDERS}
    for index, (at, tenant, kind, currency, provider, number, refund, amount) in enumerate(
        ledger.entries
    ):
        entry_id = index + 1
        name, step, debit, credit = _KINDS[kind]
        payment_id = f"pay_bench{number:010d}"
        source_id = payment_id if refund < 0 else f"re_bench{refund:010d}"
        debit = clearing[provider] if debit == "{clearing}" else debit
        credit = clearing[provider] if credit == "{clearing}" else credit
        debit_id = accounts.ids[tenant, debit, currency]
        credit_id = accounts.ids[tenant, credit, currency]
        accounts.balances[debit_id] += amount
        accounts.balances[credit_id] -= amount
        entry = (
            entry_id,
            TENANTS[tenant],
            f"{source_id}:{step}",
            payment_id,
            source_id,
            provider,
            name,
            f"{step} of {source_id}",
            _EPOCH + timedelta(microseconds=at),
        )
        yield (
            entry,
            (2 * entry_id - 1, entry_id, debit_id, amount, currency),
            (2 * entry_id, entry_id, credit_id, -amount, currency),
        )


ENTRY_COLUMNS = (
    "id",
    "tenant_id",
    "idempotency_key",
    "payment_id",
    "source_id",
    "provider",
    "kind",
    "description",
    "created_at",
)
POSTING_COLUMNS = ("id", "entry_id", "account_id", "amount", "currency")
BATCH = 50_000


def load(engine: Engine, ledger: Ledger) -> dict[str, float]:
    """Insert the accounts, entries and postings in one transaction, then set the accounts'
    balances and (PostgreSQL) move the id sequences past the rows, so the ledger can go on
    posting afterwards. Returns seconds per phase."""
    accounts = Accounts()
    raw = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            return _copy_postgresql(raw.driver_connection, ledger, accounts)
        return _insert_sqlite(raw.driver_connection, engine, ledger, accounts)
    finally:
        raw.close()


_INSERT_ACCOUNTS = (
    "INSERT INTO ledger_accounts (id, tenant_id, code, currency, balance) "
    "VALUES (:id, :tenant_id, :code, :currency, 0)"
)
_SET_BALANCE = "UPDATE ledger_accounts SET balance = :balance WHERE id = :id"
LEDGER_TABLES = ("journal_entries", "postings")
# Indexes (other than primary keys) and constraints of the loaded tables; their definitions
# come from the catalog, so they are put back exactly as the migrations made them.
_SECONDARY = """
SELECT 'constraint', c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.conrelid = ANY(%(tables)s::regclass[]) AND c.contype IN ('u', 'f')
UNION ALL
SELECT 'index', i.indrelid::regclass::text, x.relname::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
WHERE i.indrelid = ANY(%(tables)s::regclass[]) AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
"""


def _pyformat(statement: str) -> str:
    """psycopg's parameter style for a statement written with ``:name`` parameters."""
    return re.sub(r":(\w+)", r"%(\1)s", statement)


class _Phases(dict):
    @contextmanager
    def __call__(self, name: str):
        started = time.perf_counter()
        yield
        self[name] = self.get(name, 0.0) + time.perf_counter() - started


def _copy_postgresql(connection, ledger: Ledger, accounts: Accounts) -> dict[str, float]:
    """COPY into the tables stripped of their secondary indexes and unique and foreign key
    constraints, which are then rebuilt in one pass each (as pg_restore does): the same
    schema at the end, in the same transaction."""
    phases = _Phases()
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(_SECONDARY, {"tables": list(LEDGER_TABLES)})
        secondary = cursor.fetchall()
        # Foreign keys go first and come back last: they need the keys they reference.
        secondary.sort(key=lambda row: (row[0] == "constraint") + row[3].startswith("FOREIGN"))
        with phases("drop indexes"):
            for what, table, name, _ in reversed(secondary):
                if what == "constraint":
                    cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
                else:
                    cursor.execute(f'DROP INDEX "{name}"')
        cursor.executemany(_pyformat(_INSERT_ACCOUNTS), accounts.rows())
        # One COPY at a time on a connection: the postings wait in memory (~30 MB a million).
        postings = io.StringIO()
        entries = io.StringIO()
        with (
            phases("copy entries"),
            cursor.copy(f"COPY journal_entries ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy,
        ):
            for count, (entry, debit, credit) in enumerate(rows(ledger, accounts), 1):
                entries.write("\t".join(map(str, entry)) + "\n")
                postings.write("\t".join(map(str, debit)) + "\n")
                postings.write("\t".join(map(str, credit)) + "\n")
                if count % BATCH == 0:
                    copy.write(entries.getvalue())
                    entries.seek(0)
                    entries.truncate()
            copy.write(entries.getvalue())
        with (
            phases("copy postings"),
            cursor.copy(f"COPY postings ({', '.join(POSTING_COLUMNS)}) FROM STDIN") as copy,
        ):
            text = postings.getvalue()
            for offset in range(0, len(text), 8 << 20):
                copy.write(text[offset : offset + (8 << 20)])
        with phases("rebuild indexes"):
            for what, table, name, definition in secondary:
                if what == "index":
                    cursor.execute(definition)
                else:
                    cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        cursor.executemany(_pyformat(_SET_BALANCE), accounts.rows())
        for table in ("ledger_accounts", *LEDGER_TABLES):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                f"(SELECT max(id) FROM {table}))"
            )
    return dict(phases)


def _insert_sqlite(
    connection, engine: Engine, ledger: Ledger, accounts: Accounts
) -> dict[str, float]:
    # The column's own conversion, so the stored text is what the ORM writes and compares.
    created_at = JournalEntry.__table__.c.created_at.type
    to_text = created_at.dialect_impl(engine.dialect).bind_processor(engine.dialect)
    entry_sql = (
        f"INSERT INTO journal_entries ({', '.join(ENTRY_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})"
    )
    posting_sql = (
        f"INSERT INTO postings ({', '.join(POSTING_COLUMNS)}) "  # noqa: S608
        "VALUES (?, ?, ?, ?, ?)"
    )
    phases = _Phases()
    cursor = connection.cursor()
    try:
        with phases("insert"):
            cursor.execute("BEGIN IMMEDIATE")
            cursor.executemany(_INSERT_ACCOUNTS, accounts.rows())
            entries: list[tuple] = []
            postings: list[tuple] = []
            # Postings reference entries (foreign key): each batch of entries goes in first.
            for entry, debit, credit in rows(ledger, accounts):
                entries.append((*entry[:-1], to_text(entry[-1])))
                postings += (debit, credit)
                if len(entries) == BATCH:
                    cursor.executemany(entry_sql, entries)
                    cursor.executemany(posting_sql, postings)
                    entries.clear()
                    postings.clear()
            cursor.executemany(entry_sql, entries)
            cursor.executemany(posting_sql, postings)
            cursor.executemany(_SET_BALANCE, accounts.rows())
            cursor.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            cursor.execute("ROLLBACK")
        raise
    finally:
        cursor.close()
    return dict(phases)
