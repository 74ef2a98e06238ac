"""Ledger contracts: accounts, and the journal entry drafts workflows hand to the ledger.

Signs: debits positive, credits negative; every entry sums to zero per currency. A tenant's
accounts (one per currency):

- ``provider_clearing:{provider}``: money held for the tenant at a provider (debit-normal).
- ``merchant_balance``: what the tenant may still pay out or refund (credit-normal).
- ``refund_reserve`` / ``payout_reserve``: money set aside by an admitted refund or payout
  until the provider answers (credit-normal while held).
- ``connected_balance:{account id}``: transferred to a connected account, not yet paid out.

Credit-normal accounts that hold someone's available money are *guarded*: a posting that
would take one past zero (a debit balance, i.e. negative available money) is refused.
"""

from typing import Literal

from pydantic import BaseModel
from pydantic import Field

from schemas.payments import PaymentState

JournalKind = Literal[
    "capture",
    "fee",
    "refund",
    "reversal",
    "refund_reserve",
    "refund_release",
    "payout_reserve",
    "transfer",
    "transfer_reversal",
    "payout",
    "payout_release",
    # A refund or payout the provider failed after it had succeeded: its money comes back.
    "refund_reversal",
    "payout_reversal",
    "dispute_withdrawal",
    "dispute_fee",
    "dispute_reinstatement",
    "dispute_fee_return",
]

MERCHANT_BALANCE = "merchant_balance"
REFUND_RESERVE = "refund_reserve"
PAYOUT_RESERVE = "payout_reserve"
CONNECTED_BALANCE_PREFIX = "connected_balance:"


def provider_clearing(provider: str) -> str:
    return f"provider_clearing:{provider}"


def connected_balance(account_id: str) -> str:
    return f"{CONNECTED_BALANCE_PREFIX}{account_id}"


def is_guarded(account: str) -> bool:
    """Accounts whose balance may never rise above zero (no negative available money)."""
    return account in (MERCHANT_BALANCE, REFUND_RESERVE, PAYOUT_RESERVE) or account.startswith(
        CONNECTED_BALANCE_PREFIX
    )


class PostingLine(BaseModel):
    """One leg of a journal entry. Debits are positive, credits negative."""

    account: str  # e.g. "provider_clearing:sandbox", "merchant_balance"
    amount: int
    currency: str


class JournalEntryDraft(BaseModel):
    idempotency_key: str  # "{id}:{step}": a replayed activity never posts twice
    kind: JournalKind
    description: str
    lines: list[PostingLine]
    # What caused the entry (a payment, refund or payout id) and through which provider;
    # the entry's payment is the command's. Optional: histories recorded before them.
    source_id: str | None = None
    provider: str | None = None


class RecordPaymentCommand(BaseModel):
    """Write the read model, and the journal entry if any, in one SQL transaction."""

    state: PaymentState
    journal: list[JournalEntryDraft] = Field(default_factory=list)
