"""One dataclass per table row (``TABLE`` names the table, the fields are its columns).

A new row's ``id`` is ``new_id`` with its object's prefix; its ``created`` is the moment it is
made.
"""

import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import ClassVar

from workers.sandbox_gateway.store import now_iso


def new_id(prefix: str) -> str:
    """``ch_…``, ``rf_…``: the prefix names the kind of object, the rest is random."""
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class Charge:
    TABLE: ClassVar[str] = "charges"

    id: str
    status: str
    amount: int
    currency: str
    reference: str
    customer_id: str | None
    payment_method: str
    capture_requested: bool
    amount_authorized: int = 0
    amount_captured: int = 0
    amount_refunded: int = 0
    fee: int = 0
    challenge: str | None = None
    next_action_url: str | None = None
    capture_error: str | None = None
    failure: str | None = None
    created: str = field(default_factory=now_iso)
    # ``payment_method`` is the token charged; a saved method's id (``pm_…``) is
    # ``saved_method``, charged for ``customer`` (``cus_…``).
    customer: str | None = None
    saved_method: str | None = None
    off_session: bool = False

    def __post_init__(self) -> None:
        self.capture_requested = bool(self.capture_requested)  # SQLite stores 0/1
        self.off_session = bool(self.off_session)


@dataclass
class Refund:
    TABLE: ClassVar[str] = "refunds"

    id: str
    charge_id: str
    amount: int
    currency: str
    status: str
    reference: str | None
    failure_code: str | None = None
    failure_message: str | None = None
    created: str = field(default_factory=now_iso)


@dataclass
class Transfer:
    TABLE: ClassVar[str] = "transfers"

    id: str
    amount: int
    currency: str
    destination: str
    reference: str
    status: str
    amount_reversed: int = 0
    created: str = field(default_factory=now_iso)


@dataclass
class TransferReversal:
    TABLE: ClassVar[str] = "transfer_reversals"

    id: str
    transfer_id: str
    amount: int
    currency: str
    reference: str | None
    created: str = field(default_factory=now_iso)


@dataclass
class Payout:
    TABLE: ClassVar[str] = "payouts"

    id: str
    amount: int
    currency: str
    destination: str
    bank_account: str
    status: str
    reference: str
    failure_code: str | None = None
    failure_message: str | None = None
    created: str = field(default_factory=now_iso)
    method: str = "standard"


@dataclass
class BalanceTransaction:
    """``amount`` is signed; ``account`` is None for the platform's balance."""

    TABLE: ClassVar[str] = "balance_transactions"

    id: str
    type: str
    amount: int
    fee: int
    currency: str
    source: str
    reference: str | None
    payment_id: str | None
    account: str | None
    created: str = field(default_factory=now_iso)


@dataclass
class Account:
    TABLE: ClassVar[str] = "accounts"
    id: str
    reference: str
    onboarded: bool = False
    created: str = field(default_factory=now_iso)

    def __post_init__(self) -> None:
        self.onboarded = bool(self.onboarded)  # SQLite stores 0/1


@dataclass
class Customer:
    TABLE: ClassVar[str] = "customers"

    id: str
    reference: str
    default_payment_method: str | None = None
    created: str = field(default_factory=now_iso)


@dataclass
class SavedMethod:
    """A token saved for one customer: ``pm_…``, charged again and again until detached."""

    TABLE: ClassVar[str] = "payment_methods"

    id: str
    customer: str | None
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    fingerprint: str
    status: str = "attached"
    created: str = field(default_factory=now_iso)
