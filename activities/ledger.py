"""Double-entry ledger writes, in the same SQL transaction as the read model."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Engine, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.read_model import upsert_payment
from schemas import errors, steps
from schemas.ledger import JournalEntryDraft, RecordPaymentCommand
from schemas.tables import JournalEntry, LedgerAccount, Posting


class LedgerActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=steps.RECORD_PAYMENT)
    def record_payment(self, command: RecordPaymentCommand) -> None:
        for entry in command.journal:
            _check_balanced(entry)
        tenant_id, payment_id = command.state.tenant_id, command.state.payment_id
        with Session(self._engine) as session, session.begin():
            # Lock order, the same in every transaction: the payment's row (the upsert locks
            # it, which also serializes concurrent attempts for one payment), then every
            # account the entries touch in sorted order, then the entries themselves.
            upsert_payment(session, command.state)
            accounts = account_ids(
                session,
                tenant_id,
                {(line.account, line.currency) for e in command.journal for line in e.lines},
            )
            for entry in command.journal:
                post_entry(session, tenant_id, payment_id, entry, accounts)


def post_entry(
    session: Session,
    tenant_id: str,
    payment_id: str,
    entry: JournalEntryDraft,
    accounts: dict[tuple[str, str], int] | None = None,
) -> bool:
    """Post one journal entry unless its idempotency key was posted before.

    ``accounts`` maps (code, currency) to account ids already resolved by ``account_ids``.
    """
    existing = session.exec(
        select(JournalEntry.id).where(JournalEntry.idempotency_key == entry.idempotency_key)
    ).first()
    if existing is not None:
        return False
    journal = JournalEntry(
        tenant_id=tenant_id,
        idempotency_key=entry.idempotency_key,
        payment_id=payment_id,
        kind=entry.kind,
        description=entry.description[:200],
        created_at=datetime.now(UTC),
    )
    needed = {(line.account, line.currency) for line in entry.lines}
    if accounts is None or not needed.issubset(accounts):
        accounts = account_ids(session, tenant_id, needed)
    session.add(journal)
    session.flush()
    for line in entry.lines:
        session.add(
            Posting(
                entry_id=journal.id,
                account_id=accounts[line.account, line.currency],
                amount=line.amount,
                currency=line.currency,
            )
        )
    session.flush()
    return True


def account_ids(
    session: Session, tenant_id: str, keys: Iterable[tuple[str, str]]
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
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(table)
        .values([{"tenant_id": tenant_id, "code": c, "currency": cur} for c, cur in keys])
        .on_conflict_do_nothing(index_elements=["tenant_id", "code", "currency"])
    )
    rows = session.execute(
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
