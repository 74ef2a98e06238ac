"""Ledger contracts: a journal entry draft the workflow hands to the ledger activity."""

from typing import Literal

from pydantic import BaseModel, Field

from schemas.payments import PaymentState

JournalKind = Literal["capture", "refund", "reversal"]


class PostingLine(BaseModel):
    """One leg of a journal entry. Debits are positive, credits negative."""

    account: str  # e.g. "provider_clearing:sandbox", "merchant_balance"
    amount: int
    currency: str


class JournalEntryDraft(BaseModel):
    idempotency_key: str  # "{payment id}:{step}": a replayed activity never posts twice
    kind: JournalKind
    description: str
    lines: list[PostingLine]


class RecordPaymentCommand(BaseModel):
    """Write the read model, and the journal entry if any, in one SQL transaction."""

    state: PaymentState
    journal: list[JournalEntryDraft] = Field(default_factory=list)
