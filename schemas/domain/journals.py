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

# Stand for the accounts that depend on the movement: its provider's clearing account and
# its connected account's balance.
_CLEARING = "provider_clearing:*"
_CONNECTED = "connected_balance:*"

# Every entry moves one amount between two accounts: kind -> (step, debited, credited). The
# step names the entry within its source: ``{source id}:{step}`` is its idempotency key.
_ENTRIES: dict[JournalKind, tuple[str, str, str]] = {
    "capture": ("capture", _CLEARING, MERCHANT_BALANCE),
    "fee": ("fee", MERCHANT_BALANCE, _CLEARING),
    "refund_reserve": ("reserve", MERCHANT_BALANCE, REFUND_RESERVE),
    "refund": ("refund", REFUND_RESERVE, _CLEARING),
    "refund_release": ("release", REFUND_RESERVE, MERCHANT_BALANCE),
    "payout_reserve": ("reserve", MERCHANT_BALANCE, PAYOUT_RESERVE),
    "transfer": ("transfer", PAYOUT_RESERVE, _CONNECTED),
    "payout": ("payout", _CONNECTED, _CLEARING),
    "transfer_reversal": ("transfer_reversal", _CONNECTED, PAYOUT_RESERVE),
    "payout_release": ("release", PAYOUT_RESERVE, MERCHANT_BALANCE),
    "refund_reversal": ("refund_reversal", _CLEARING, MERCHANT_BALANCE),
    "payout_reversal": ("payout_reversal", _CLEARING, _CONNECTED),
    "dispute_withdrawal": ("withdrawal", MERCHANT_BALANCE, _CLEARING),
    "dispute_fee": ("fee", MERCHANT_BALANCE, _CLEARING),
    "dispute_reinstatement": ("reinstatement", _CLEARING, MERCHANT_BALANCE),
    "dispute_fee_return": ("fee_return", _CLEARING, MERCHANT_BALANCE),
}


def _entry(
    kind: JournalKind,
    source_id: str,
    provider: str,
    currency: str,
    amount: int,
    account_id: str | None = None,
) -> JournalEntryDraft:
    step, debited, credited = _ENTRIES[kind]

    def account(code: str) -> str:
        if code == _CLEARING:
            return provider_clearing(provider)
        if code == _CONNECTED:
            assert account_id is not None, f"a {kind} entry moves a connected account's money"
            return connected_balance(account_id)
        return code

    return JournalEntryDraft(
        idempotency_key=f"{source_id}:{step}",
        kind=kind,
        description=f"{step} of {source_id}",
        source_id=source_id,
        provider=provider,
        lines=[
            PostingLine(account=account(debited), amount=amount, currency=currency),
            PostingLine(account=account(credited), amount=-amount, currency=currency),
        ],
    )


def capture(
    payment_id: str, provider: str, currency: str, captured: int, fee: int
) -> list[JournalEntryDraft]:
    """The provider holds the captured money for the merchant, less the fee it kept."""
    journal = [_entry("capture", payment_id, provider, currency, captured)]
    if fee:
        journal.append(_entry("fee", payment_id, provider, currency, fee))
    return journal


def refund_reserve(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """Set the refund's money aside: the merchant cannot pay it out while the provider works."""
    return _entry("refund_reserve", refund_id, provider, currency, amount)


def refund_settled(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """The provider gave the money back to the customer."""
    return _entry("refund", refund_id, provider, currency, amount)


def refund_release(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """The provider refused: the reserved money is the merchant's again."""
    return _entry("refund_release", refund_id, provider, currency, amount)


def payout_reserve(payout_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """Set the payout's money aside: the merchant cannot spend it while the provider works."""
    return _entry("payout_reserve", payout_id, provider, currency, amount)


def payout_transfer(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """The reserved money moved to the connected account's balance at the provider."""
    return _entry("transfer", payout_id, provider, currency, amount, account_id)


def payout_paid(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """The connected account's money left the provider for its bank."""
    return _entry("payout", payout_id, provider, currency, amount, account_id)


def payout_transfer_reversed(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """Compensation: the transfer came back from the connected account to the reserve."""
    return _entry("transfer_reversal", payout_id, provider, currency, amount, account_id)


def payout_release(payout_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """Compensation: the reserved money is the merchant's again."""
    return _entry("payout_release", payout_id, provider, currency, amount)


def refund_reversed(refund_id: str, provider: str, currency: str, amount: int) -> JournalEntryDraft:
    """The provider failed a refund it had accepted: the money is back in the merchant's
    balance at the provider (Stripe's ``refund_failure`` balance transaction)."""
    return _entry("refund_reversal", refund_id, provider, currency, amount)


def payout_reversed(
    payout_id: str, account_id: str, provider: str, currency: str, amount: int
) -> JournalEntryDraft:
    """The bank returned a payout the provider had sent: the money is back in the connected
    account's balance at the provider (Stripe's ``payout_failure`` balance transaction)."""
    return _entry("payout_reversal", payout_id, provider, currency, amount, account_id)


def dispute_funds(
    dispute_id: str, provider: str, currency: str, amount: int, fee: int
) -> list[JournalEntryDraft]:
    """A dispute's balance transaction at the provider (``amount`` signed from the balance,
    ``fee`` what the provider charged): a withdrawal takes the amount and the fee from the
    merchant balance, a reinstatement gives the amount (and any fee returned) back. One
    entry per step of the dispute, so an event read twice books nothing twice."""
    journal = []
    if amount < 0:
        journal.append(_entry("dispute_withdrawal", dispute_id, provider, currency, -amount))
    elif amount > 0:
        journal.append(_entry("dispute_reinstatement", dispute_id, provider, currency, amount))
    if fee > 0:
        journal.append(_entry("dispute_fee", dispute_id, provider, currency, fee))
    elif fee < 0:
        journal.append(_entry("dispute_fee_return", dispute_id, provider, currency, -fee))
    return journal
