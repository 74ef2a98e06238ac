"""Derived ledger views: balances from postings, and the invariants every test checks."""

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select

from schemas.ledger import is_guarded
from schemas.store.tables import JournalEntry
from schemas.store.tables import LedgerAccount
from schemas.store.tables import Posting


class AccountBalance(BaseModel):
    account: str
    currency: str
    balance: int  # debits positive, credits negative, in minor units


class LedgerViolation(BaseModel):
    entry_idempotency_key: str
    currency: str
    total: int


class BalanceDrift(BaseModel):
    account_id: int
    stored: int
    postings: int


def balances(session: Session, tenant_id: str) -> list[AccountBalance]:
    rows = session.exec(
        select(LedgerAccount.code, LedgerAccount.currency, LedgerAccount.balance)
        .where(LedgerAccount.tenant_id == tenant_id)
        .order_by(LedgerAccount.code, LedgerAccount.currency)
    ).all()
    return [AccountBalance(account=c, currency=cur, balance=int(b)) for c, cur, b in rows]


def balance(session: Session, tenant_id: str, account: str, currency: str) -> int:
    """One account's balance (0 when it has never been posted to)."""
    stored = session.exec(
        select(LedgerAccount.balance).where(
            LedgerAccount.tenant_id == tenant_id,
            LedgerAccount.code == account,
            LedgerAccount.currency == currency,
        )
    ).first()
    return int(stored or 0)


def balance_drift(session: Session) -> list[BalanceDrift]:
    """Accounts whose stored balance is not the sum of their postings: must always be empty."""
    summed = (
        select(Posting.account_id, func.sum(Posting.amount).label("total"))
        .group_by(Posting.account_id)
        .subquery()
    )
    total = func.coalesce(summed.c.total, 0)
    rows = session.exec(
        select(LedgerAccount.id, LedgerAccount.balance, total)
        .join(summed, summed.c.account_id == LedgerAccount.id, isouter=True)
        .where(LedgerAccount.balance != total)
    ).all()
    return [BalanceDrift(account_id=i, stored=int(b), postings=int(t)) for i, b, t in rows]


def overdrawn_accounts(session: Session) -> list[AccountBalance]:
    """Guarded accounts with negative available money: must always be empty."""
    rows = session.exec(
        select(LedgerAccount.code, LedgerAccount.currency, LedgerAccount.balance).where(
            LedgerAccount.balance > 0
        )
    ).all()
    return [
        AccountBalance(account=c, currency=cur, balance=int(b))
        for c, cur, b in rows
        if is_guarded(c)
    ]


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
