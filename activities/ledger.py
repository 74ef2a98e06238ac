"""Double-entry ledger writes, in the same SQL transaction as the read model."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Connection, Engine, Insert, insert, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.read_model import upsert_payment
from schemas import errors, steps
from schemas.ledger import JournalEntryDraft, RecordPaymentCommand
from schemas.tables import JournalEntry, LedgerAccount, Posting


class LedgerActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        # (tenant, code, currency) → account id. Accounts are never deleted or renumbered,
        # so ids seen in a committed transaction stay valid for the life of the process.
        self._known_accounts: dict[tuple[str, str, str], int] = {}

    @activity.defn(name=steps.RECORD_PAYMENT)
    def record_payment(self, command: RecordPaymentCommand) -> None:
        for entry in command.journal:
            _check_balanced(entry)
        tenant_id, payment_id = command.state.tenant_id, command.state.payment_id
        needed = {(line.account, line.currency) for e in command.journal for line in e.lines}
        with self._engine.begin() as connection:
            # Lock order, the same in every transaction: the payment's row (the upsert locks
            # it, which also serializes concurrent attempts for one payment), then every
            # account the entries touch in sorted order, then the entries themselves.
            upsert_payment(connection, command.state)
            accounts = self._cached_accounts(tenant_id, needed)
            if accounts is None:
                accounts = account_ids(connection, tenant_id, needed)
            for entry in command.journal:
                post_entry(connection, tenant_id, payment_id, entry, accounts)
        for (code, currency), account_id in accounts.items():
            self._known_accounts[tenant_id, code, currency] = account_id

    def _cached_accounts(
        self, tenant_id: str, needed: set[tuple[str, str]]
    ) -> dict[tuple[str, str], int] | None:
        try:
            return {(c, cur): self._known_accounts[tenant_id, c, cur] for c, cur in needed}
        except KeyError:
            return None


def post_entry(
    connection: Connection,
    tenant_id: str,
    payment_id: str,
    entry: JournalEntryDraft,
    accounts: dict[tuple[str, str], int] | None = None,
) -> bool:
    """Post one journal entry unless its idempotency key was posted before.

    ``accounts`` maps (code, currency) to account ids already resolved by ``account_ids``.
    """
    needed = {(line.account, line.currency) for line in entry.lines}
    if accounts is None or not needed.issubset(accounts):
        accounts = account_ids(connection, tenant_id, needed)
    entry_id = connection.execute(
        _insert_entry_statement(connection.dialect.name),
        {
            "tenant_id": tenant_id,
            "idempotency_key": entry.idempotency_key,
            "payment_id": payment_id,
            "kind": entry.kind,
            "description": entry.description[:200],
            "created_at": datetime.now(UTC),
        },
    ).scalar_one_or_none()
    if entry_id is None:
        return False  # posted before under this idempotency key
    connection.execute(
        insert(Posting.__table__),
        [
            {
                "entry_id": entry_id,
                "account_id": accounts[line.account, line.currency],
                "amount": line.amount,
                "currency": line.currency,
            }
            for line in entry.lines
        ],
    )
    return True


@cache
def _insert_entry_statement(dialect_name: str) -> Insert:
    entries = JournalEntry.__table__
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return (
        dialect.insert(entries)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(entries.c.id)
    )


def account_ids(
    connection: Connection, tenant_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """Ids of the (code, currency) accounts of a tenant, creating the missing ones.

    They are created in sorted order in one statement: two transactions creating the same
    new accounts in different orders (a capture lists clearing first, a refund the merchant
    balance first) would otherwise each wait for the other's uncommitted row, a deadlock.
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    table = LedgerAccount.__table__
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    connection.execute(
        dialect.insert(table)
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


def _check_balanced(entry: JournalEntryDraft) -> None:
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
