"""The ledger invariants, asserted after every scenario that touched a database."""

from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select

from schemas.store.ledger_reports import balance_drift
from schemas.store.ledger_reports import empty_entries
from schemas.store.ledger_reports import overdrawn_accounts
from schemas.store.ledger_reports import unbalanced_entries
from schemas.store.tables import JournalEntry


def assert_ledger_invariants(engine: Engine) -> None:
    with Session(engine) as session:
        assert unbalanced_entries(session) == []
        assert empty_entries(session) == []
        assert balance_drift(session) == []
        assert overdrawn_accounts(session) == []


def journal_entries_for(engine: Engine, payment_id: str) -> int:
    with Session(engine) as session:
        return session.exec(select(func.count()).where(JournalEntry.payment_id == payment_id)).one()
