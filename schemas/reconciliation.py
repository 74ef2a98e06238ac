"""Reconciliation contracts: what is left unresolved, and the daily ledger-vs-provider report."""

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from pydantic import Field

from schemas.payments import PaymentState
from schemas.payouts import PayoutState
from schemas.provider import ChargeResult
from schemas.provider import PayoutResult
from schemas.provider import RefundResult
from schemas.provider import TransferResult
from schemas.refunds import RefundState

# A day's report also reads the hour on either side: records written just before or after
# midnight on the other side still match theirs.
MARGIN = timedelta(hours=1)
# A payment reconciliation found captured at the provider for another amount or currency than
# its own: nothing is booked, the payment stays ``requires_attention`` for an operator, and
# the day's report lists it.
PROVIDER_DISAGREES = "reconciled_provider_disagrees"


class Unresolved(BaseModel):
    """What nobody knows the provider outcome of (``requires_attention``)."""

    payments: list[PaymentState] = Field(default_factory=list)
    refunds: list[RefundState] = Field(default_factory=list)
    payouts: list[PayoutState] = Field(default_factory=list)


class FindUnresolvedCommand(BaseModel):
    limit: int = 100


class LookupCommand(BaseModel):
    provider: str
    id: str  # our payment, refund or payout id: the provider object's reference
    # The provider's own id when the saga learned it: found by id where the provider cannot
    # be searched by ours (PayPal orders).
    reference: str | None = None


class ChargeLookup(BaseModel):
    charge: ChargeResult | None
    declined: bool = False  # the provider refused the charge: nothing was taken


class RefundLookup(BaseModel):
    refund: RefundResult | None


class PayoutLookup(BaseModel):
    transfer: TransferResult | None
    payout: PayoutResult | None


class ReconciliationSummary(BaseModel):
    """What one reconciliation run did, for its result in the Temporal UI."""

    payments_captured: list[str] = Field(default_factory=list)
    payments_voided: list[str] = Field(default_factory=list)
    payments_not_charged: list[str] = Field(default_factory=list)
    # Captured at the provider for another amount or currency: not booked, left for an operator.
    payments_disagreeing: list[str] = Field(default_factory=list)
    refunds_succeeded: list[str] = Field(default_factory=list)
    refunds_failed: list[str] = Field(default_factory=list)
    payouts_paid: list[str] = Field(default_factory=list)
    payouts_failed: list[str] = Field(default_factory=list)


MovementKind = Literal["capture", "fee", "refund", "dispute", "dispute_fee"]
MismatchKind = Literal[
    "missing_in_ledger",
    "missing_at_provider",
    "amount_differs",
    # The provider captured another amount or currency than the payment's: nothing booked.
    "provider_amount_differs",
    "provider_currency_differs",
]


class Mismatch(BaseModel):
    kind: MovementKind
    id: str  # the payment id (captures, fees), refund id or dispute id
    currency: str
    ledger_amount: int | None
    provider_amount: int | None
    problem: MismatchKind
    # Set for a capture reconciliation refused to book: the payment's own amount, and the
    # provider's currency when it is not the payment's (``currency``).
    payment_amount: int | None = None
    provider_currency: str | None = None


class DayTotals(BaseModel):
    """One currency's movements of the day, as each side booked them (minor units)."""

    currency: str
    ledger_captured: int = 0
    provider_captured: int = 0
    ledger_fees: int = 0
    provider_fees: int = 0
    ledger_refunded: int = 0
    provider_refunded: int = 0
    # Withdrawn by disputes net of what was reinstated, and their fees net of any returned.
    ledger_disputed: int = 0
    provider_disputed: int = 0
    ledger_dispute_fees: int = 0
    provider_dispute_fees: int = 0


class ReconciliationReport(BaseModel):
    tenant_id: str
    date: date
    generated_at: datetime
    totals: list[DayTotals]
    mismatches: list[Mismatch]


class ReportCommand(BaseModel):
    tenant_id: str
    date: date


def day_window(day: date) -> tuple[datetime, datetime]:
    """The UTC day's start and end."""
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def is_final(report: ReconciliationReport) -> bool:
    """Built once its day and the margin after it had ended: neither side can still add an
    item of that day (a later booking or provider movement is dated when it happens)."""
    return report.generated_at >= day_window(report.date)[1] + MARGIN
