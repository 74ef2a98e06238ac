"""What each money movement posts to the ledger: pure functions, shared by the workflows and
the activities that decide amounts under a lock. Account meanings: ``schemas.ledger``."""

from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import PAYOUT_RESERVE
from schemas.ledger import REFUND_RESERVE
from schemas.ledger import JournalEntryDraft
from schemas.ledger import JournalKind
from schemas.ledger import PostingLine
from schemas.ledger import connected_balance
from schemas.ledger import provider_clearing


def _entry(
    source_id: str,
    step: str,
    kind: JournalKind,
    debit: str,
    credit: str,
    amount: int,
    currency: str,
    provider: str,
) -> JournalEntryDraft:
    return JournalEntryDraft(
        idempotency_key=f"{source_id}:{step}",
        kind=kind,
        description=f"{step} of {source_id}",
        source_id=source_id,
        provider=provider,
        lines=[
            PostingLine(account=debit, amount=amount, currency=currency),
            PostingLine(account=credit, amount=-amount, currency=currency),
        ],
    )


def capture(
    payment_id: str, provider: str, currency: str, captured: int, fee: int
) -> list[JournalEntryDraft]:
    """The provider holds the captured money for the merchant, less the fee it kept."""
    clearing = provider_clearing(provider)
    journal = [
        _entry(
            payment_id,
            "capture",
            "capture",
            clearing,
            MERCHANT_BALANCE,
            captured,
            currency,
            provider,
        )
    ]
    if fee:
        journal.append(
            _entry(payment_id, "fee", "fee", MERCHANT_BALANCE, clearing, fee, currency, provider)
        )
    return journal


def refund_reserve(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """Set the refund's money aside: the merchant cannot pay it out while the provider works."""
    return _entry(
        refund_id,
        "reserve",
        "refund_reserve",
        MERCHANT_BALANCE,
        REFUND_RESERVE,
        amount,
        currency,
        provider,
    )


def refund_settled(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """The provider gave the money back to the customer."""
    clearing = provider_clearing(provider)
    return _entry(
        refund_id, "refund", "refund", REFUND_RESERVE, clearing, amount, currency, provider
    )


def refund_release(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """The provider refused: the reserved money is the merchant's again."""
    return _entry(
        refund_id,
        "release",
        "refund_release",
        REFUND_RESERVE,
        MERCHANT_BALANCE,
        amount,
        currency,
        provider,
    )


def payout_reserve(payout_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    return _entry(
        payout_id,
        "reserve",
        "payout_reserve",
        MERCHANT_BALANCE,
        PAYOUT_RESERVE,
        amount,
        currency,
        provider,
    )


def payout_transfer(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """The reserved money moved to the connected account's balance at the provider."""
    return _entry(
        payout_id,
        "transfer",
        "transfer",
        PAYOUT_RESERVE,
        connected_balance(account_id),
        amount,
        currency,
        provider,
    )


def payout_paid(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """The connected account's money left the provider for its bank."""
    return _entry(
        payout_id,
        "payout",
        "payout",
        connected_balance(account_id),
        provider_clearing(provider),
        amount,
        currency,
        provider,
    )


def payout_transfer_reversed(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """Compensation: the transfer came back from the connected account to the reserve."""
    return _entry(
        payout_id,
        "transfer_reversal",
        "transfer_reversal",
        connected_balance(account_id),
        PAYOUT_RESERVE,
        amount,
        currency,
        provider,
    )


def payout_release(payout_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """Compensation: the reserved money is the merchant's again."""
    return _entry(
        payout_id,
        "release",
        "payout_release",
        PAYOUT_RESERVE,
        MERCHANT_BALANCE,
        amount,
        currency,
        provider,
    )
