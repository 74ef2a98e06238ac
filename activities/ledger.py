"""Double-entry ledger writes, in the same SQL transaction as the read model.

Concurrency: every transaction that posts locks what it touches in one order — the business
row first (a payment, refund or payout), then the ledger accounts by ascending id — so two
postings never deadlock, and each account's stored ``balance`` is updated under its row lock
(no lost update). A guarded account (``schemas.ledger.is_guarded``) that would end above zero
makes the whole transaction roll back with ``InsufficientBalance``.
"""

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from functools import cache

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import Insert
from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import tuple_
from sqlalchemy import update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.admission import rejected
from schemas import errors
from schemas.ledger import JournalEntryDraft
from schemas.ledger import RecordPaymentCommand
from schemas.ledger import is_guarded
from schemas.store.database import dialect_insert
from schemas.store.read_model import upsert_payment
from schemas.store.tables import JournalEntry
from schemas.store.tables import LedgerAccount
from schemas.store.tables import Posting

AccountIds = dict[tuple[str, str], int]


class LedgerTransaction:
    """One SQL transaction that posts entries, resolving account ids through a cache."""

    def __init__(self, connection: Connection, known: dict[tuple[str, str, str], int]) -> None:
        self.connection = connection
        self._known = known
        self.resolved: dict[tuple[str, str, str], int] = {}

    def post(
        self, tenant_id: str, entries: Sequence[JournalEntryDraft], payment_id: str | None = None
    ) -> int:
        needed = {(line.account, line.currency) for e in entries for line in e.lines}
        try:
            accounts = {(c, cur): self._known[tenant_id, c, cur] for c, cur in needed}
        except KeyError:
            accounts = account_ids(self.connection, tenant_id, needed)
        self.resolved.update({(tenant_id, c, cur): i for (c, cur), i in accounts.items()})
        return post_entries(self.connection, tenant_id, entries, payment_id, accounts)

    def reserve(
        self,
        tenant_id: str,
        entry: JournalEntryDraft,
        shortfall: str,
        payment_id: str | None = None,
    ) -> None:
        """Post an admission's reservation. One that would overdraw a guarded account refuses
        the admission (``Rejected`` ``insufficient_balance``, saying ``shortfall``), and the
        transaction rolls back: nothing is written."""
        try:
            self.post(tenant_id, [entry], payment_id=payment_id)
        except ApplicationError as e:
            if e.type != errors.INSUFFICIENT_BALANCE:
                raise
            raise rejected("insufficient_balance", shortfall) from None


class Ledger:
    """The ledger of one database. Account ids are cached only once their transaction has
    committed: accounts are never deleted or renumbered, but one created by a transaction
    that rolled back never existed."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._known_accounts: dict[tuple[str, str, str], int] = {}

    @contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        with self.engine.begin() as connection:
            transaction = LedgerTransaction(connection, self._known_accounts)
            yield transaction
        self._known_accounts.update(transaction.resolved)


class LedgerBacked:
    """Activities that write in ledger transactions: one ``Ledger`` per instance, so every
    call shares its account-id cache."""

    def __init__(self, engine: Engine) -> None:
        self._ledger = Ledger(engine)


class LedgerActivities(LedgerBacked):
    @activity.defn
    def record_payment(self, command: RecordPaymentCommand) -> None:
        with self._ledger.transaction() as transaction:
            # The payment's row first (the upsert locks it, which also serializes concurrent
            # attempts for one payment), then the accounts.
            upsert_payment(transaction.connection, command.state)
            transaction.post(
                command.state.tenant_id, command.journal, payment_id=command.state.payment_id
            )


def post_entries(
    connection: Connection,
    tenant_id: str,
    entries: Sequence[JournalEntryDraft],
    payment_id: str | None = None,
    accounts: AccountIds | None = None,
) -> int:
    """Post the entries not posted before (by idempotency key); returns how many were new.

    ``accounts`` maps (code, currency) to ids already resolved by ``account_ids``.
    """
    for entry in entries:
        check_balanced(entry)
    needed = {(line.account, line.currency) for e in entries for line in e.lines}
    if accounts is None or not needed.issubset(accounts):
        accounts = account_ids(connection, tenant_id, needed)
    rows: list[dict] = []
    for entry in entries:
        entry_id = _insert_entry(connection, tenant_id, payment_id, entry)
        if entry_id is None:
            continue  # posted before under this idempotency key
        rows += [
            {
                "entry_id": entry_id,
                "account_id": accounts[line.account, line.currency],
                "amount": line.amount,
                "currency": line.currency,
            }
            for line in entry.lines
        ]
    if rows:
        connection.execute(insert(Posting.__table__), rows)
        _apply_to_balances(connection, rows)
    return len({row["entry_id"] for row in rows})


def _insert_entry(
    connection: Connection, tenant_id: str, payment_id: str | None, entry: JournalEntryDraft
) -> int | None:
    return connection.execute(
        _insert_entry_statement(connection.dialect.name),
        {
            "tenant_id": tenant_id,
            "idempotency_key": entry.idempotency_key,
            "payment_id": payment_id,
            "source_id": entry.source_id or payment_id,
            "provider": entry.provider,
            "kind": entry.kind,
            "description": entry.description[:200],
            "created_at": datetime.now(UTC),
        },
    ).scalar_one_or_none()


def _apply_to_balances(connection: Connection, rows: list[dict]) -> None:
    """Add the postings to their accounts' balances, in ascending account id (lock order)."""
    deltas: dict[int, int] = defaultdict(int)
    for row in rows:
        deltas[row["account_id"]] += row["amount"]
    for account_id in sorted(deltas):
        code, balance = connection.execute(
            _add_to_balance_statement(), {"account_id": account_id, "delta": deltas[account_id]}
        ).one()
        if balance > 0 and is_guarded(code):
            raise ApplicationError(
                f"{code} would be short by {balance} (minor units)",
                {"account": code, "shortfall": balance},
                type=errors.INSUFFICIENT_BALANCE,
                non_retryable=True,
            )


@cache
def _add_to_balance_statement():
    accounts = LedgerAccount.__table__
    return (
        update(accounts)
        .where(accounts.c.id == bindparam("account_id"))
        .values(balance=accounts.c.balance + bindparam("delta"))
        .returning(accounts.c.code, accounts.c.balance)
    )


@cache
def _insert_entry_statement(dialect_name: str) -> Insert:
    entries = JournalEntry.__table__
    return (
        dialect_insert(dialect_name, entries)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(entries.c.id)
    )


def account_ids(
    connection: Connection, tenant_id: str, keys: Iterable[tuple[str, str]]
) -> AccountIds:
    """Ids of the (code, currency) accounts of a tenant, creating the missing ones.

    They are created in sorted order in one statement: two transactions creating the same
    new accounts in different orders (a capture lists clearing first, a refund the merchant
    balance first) would otherwise each wait for the other's uncommitted row, a deadlock.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    table = LedgerAccount.__table__
    connection.execute(
        dialect_insert(connection.dialect.name, table)
        .values([{"tenant_id": tenant_id, "code": c, "currency": cur} for c, cur in keys])
        .on_conflict_do_nothing(index_elements=["tenant_id", "code", "currency"])
    )
    rows = connection.execute(
        select(table.c.code, table.c.currency, table.c.id).where(
            table.c.tenant_id == tenant_id,
            tuple_(table.c.code, table.c.currency).in_(keys),
        )
    ).all()
    return {(code, currency): account_id for code, currency, account_id in rows}


def check_balanced(entry: JournalEntryDraft) -> None:
    totals: dict[str, int] = defaultdict(int)
    for line in entry.lines:
        totals[line.currency] += line.amount
    unbalanced = {currency: total for currency, total in totals.items() if total != 0}
    if unbalanced or len(entry.lines) < 2:
        raise ApplicationError(
            f"journal entry {entry.idempotency_key} does not balance: {unbalanced}",
            type=errors.LEDGER_REJECTED,
            non_retryable=True,
        )
