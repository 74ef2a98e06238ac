"""Double-entry ledger writes, in the same SQL transaction as the read model."""

from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Engine
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
        with Session(self._engine) as session, session.begin():
            upsert_payment(session, command.state)
            for entry in command.journal:
                post_entry(session, command.state.tenant_id, command.state.payment_id, entry)


def post_entry(session: Session, tenant_id: str, payment_id: str, entry: JournalEntryDraft) -> bool:
    """Post one journal entry unless its idempotency key was posted before."""
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
    session.add(journal)
    session.flush()
    for line in entry.lines:
        account_id = _account_id(session, tenant_id, line.account, line.currency)
        session.add(
            Posting(
                entry_id=journal.id,
                account_id=account_id,
                amount=line.amount,
                currency=line.currency,
            )
        )
    session.flush()
    return True


def _account_id(session: Session, tenant_id: str, code: str, currency: str) -> int:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(LedgerAccount)
        .values(tenant_id=tenant_id, code=code, currency=currency)
        .on_conflict_do_nothing(index_elements=["tenant_id", "code", "currency"])
    )
    return session.exec(
        select(LedgerAccount.id).where(
            LedgerAccount.tenant_id == tenant_id,
            LedgerAccount.code == code,
            LedgerAccount.currency == currency,
        )
    ).one()


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
