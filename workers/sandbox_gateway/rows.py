"""One dataclass per table row (``TABLE`` names the table, the fields are its columns)."""

from dataclasses import dataclass
from typing import ClassVar


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
    created: str = ""

    def __post_init__(self) -> None:
        self.capture_requested = bool(self.capture_requested)  # SQLite stores 0/1


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
    created: str = ""


@dataclass
class Transfer:
    TABLE: ClassVar[str] = "transfers"

    id: str
    amount: int
    currency: str
    destination: str
    reference: str
    amount_reversed: int = 0
    status: str = "paid"
    created: str = ""


@dataclass
class TransferReversal:
    TABLE: ClassVar[str] = "transfer_reversals"

    id: str
    transfer_id: str
    amount: int
    currency: str
    reference: str | None
    created: str = ""


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
    created: str = ""


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
    created: str
