"""Derived ledger views: balances from postings, and the invariants every test checks."""

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, select

from schemas.tables import JournalEntry, LedgerAccount, Posting


class AccountBalance(BaseModel):
    account: str
    currency: str
    balance: int  # debits positive, credits negative, in minor units


class LedgerViolation(BaseModel):
    entry_idempotency_key: str
    currency: str
    total: int


def balances(session: Session, tenant_id: str) -> list[AccountBalance]:
    rows = session.exec(
        select(
            LedgerAccount.code, LedgerAccount.currency, func.coalesce(func.sum(Posting.amount), 0)
        )
        .join(Posting, Posting.account_id == LedgerAccount.id, isouter=True)
        .where(LedgerAccount.tenant_id == tenant_id)
        .group_by(LedgerAccount.code, LedgerAccount.currency)
        .order_by(LedgerAccount.code, LedgerAccount.currency)
    ).all()
    return [AccountBalance(account=c, currency=cur, balance=int(b)) for c, cur, b in rows]


def unbalanced_entries(session: Session) -> list[LedgerViolation]:
    """Entries whose postings do not sum to zero per currency: must always be empty."""
    rows = session.exec(
        select(JournalEntry.idempotency_key, Posting.currency, func.sum(Posting.amount))
        .join(Posting, Posting.entry_id == JournalEntry.id)
        .group_by(JournalEntry.idempotency_key, Posting.currency)
        .having(func.sum(Posting.amount) != 0)
    ).all()
    return [LedgerViolation(entry_idempotency_key=k, currency=c, total=int(t)) for k, c, t in rows]


def empty_entries(session: Session) -> list[str]:
    """Entries with fewer than two postings: a half-written entry. Must always be empty."""
    rows = session.exec(
        select(JournalEntry.idempotency_key)
        .join(Posting, Posting.entry_id == JournalEntry.id, isouter=True)
        .group_by(JournalEntry.id, JournalEntry.idempotency_key)
        .having(func.count(Posting.id) < 2)
    ).all()
    return list(rows)
