"""Installment plans: an invoice (or a plain amount) paid in installments, in order, each
charged on its due date, with dunning when a charge fails."""

from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Annotated
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictInt
from pydantic import StringConstraints
from pydantic import model_validator

from schemas.billing import ChargeAttempt
from schemas.billing import ChargePolicy
from schemas.billing import DunningPolicy
from schemas.card_data import free_text
from schemas.customers import OffSessionMethod
from schemas.domain.billing_periods import boundary
from schemas.domain.installment_split import distribute
from schemas.domain.installment_split import split_amounts
from schemas.instants import SchedulableInstant
from schemas.money import AmountMinor
from schemas.money import CurrencyCode
from schemas.payments import CustomerId
from schemas.payments import CustomerRef
from schemas.payments import PaymentMethodToken
from schemas.payments import SavedMethodRef

# Free text never carries a card number (schemas/card_data.py): refused, so never stored.
FreeText500 = free_text(500)

Interval = Literal["day", "week", "month"]
MAX_INSTALLMENTS = 60
COMPONENTS = ("principal", "tax", "fee")


class CreateInstallmentPlanRequest(BaseModel):
    """Body of ``POST /v1/installment-plans``: an invoice, or amount + currency + customer;
    ``count`` + ``interval`` (from ``first_due_at``, default now), or ``due_dates``."""

    model_config = ConfigDict(extra="forbid")

    invoice_id: Annotated[str, StringConstraints(pattern=r"^inv_[0-9a-f]{24}$")] | None = None
    amount: AmountMinor | None = None
    currency: CurrencyCode | None = None
    customer_id: CustomerId | None = None
    description: FreeText500 | None = None
    payment_method: PaymentMethodToken | SavedMethodRef = Field(
        description="A provider token, or with `customer` one of its saved methods (`spm_…`)"
    )
    customer: CustomerRef | None = Field(
        default=None, description="Our customer (`cust_…`), charged off-session"
    )
    count: Annotated[StrictInt, Field(ge=1, le=MAX_INSTALLMENTS)] | None = None
    interval: Interval | None = None
    first_due_at: SchedulableInstant | None = None
    due_dates: Annotated[list[SchedulableInstant], Field(min_length=1, max_length=60)] | None = None
    amounts: Annotated[list[AmountMinor], Field(min_length=1, max_length=60)] | None = None
    dunning_retry_days: (
        Annotated[list[Annotated[StrictInt, Field(ge=1, le=60)]], Field(max_length=10)] | None
    ) = None

    @model_validator(mode="after")
    def _consistent(self):
        plain = (self.amount, self.currency, self.customer_id)
        if (self.invoice_id is None) == (None in plain):
            raise ValueError("send invoice_id, or amount, currency and customer_id (not both)")
        if self.invoice_id is not None and any(v is not None for v in plain):
            raise ValueError("an invoice's plan takes its amount, currency and customer from it")
        if (self.due_dates is None) == (self.count is None or self.interval is None):
            raise ValueError("send count and interval, or due_dates (not both)")
        if self.due_dates is not None and (self.first_due_at, self.count, self.interval) != (
            None,
            None,
            None,
        ):
            raise ValueError("first_due_at, count and interval do not go with due_dates")
        dates = self.due_dates or []
        if any(later <= earlier for earlier, later in pairwise(dates)):
            raise ValueError("due_dates must be strictly increasing")
        if self.amounts is not None and len(self.amounts) != self.installment_count:
            raise ValueError(f"amounts must have {self.installment_count} entries")
        return self

    @property
    def installment_count(self) -> int:
        return len(self.due_dates) if self.due_dates is not None else (self.count or 0)


class InstallmentStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    RETRYING = "retrying"  # a charge failed; next_retry_at says when it is tried again
    FAILED = "failed"  # dunning exhausted: an operator resolves it
    WAIVED = "waived"  # forgiven by an operator: no money


class InstallmentPlanStatus(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    DEFAULTED = "defaulted"
    COMPLETED = "completed"
    CANCELED = "canceled"
    REJECTED = "rejected"  # never admitted: nothing was stored

    @property
    def is_final(self) -> bool:
        return self in (self.COMPLETED, self.CANCELED, self.REJECTED)


class Installment(BaseModel):
    index: int  # 1-based: the billing period of its charges
    due_at: datetime
    amount: int
    principal: int
    tax: int = 0
    fee: int = 0
    paid: int = 0
    status: InstallmentStatus = InstallmentStatus.PENDING
    attempts: list[ChargeAttempt] = Field(default_factory=list)
    next_retry_at: datetime | None = None
    # Dunning: retries are timed from the first failure of the installment's current round.
    failures: int = 0
    first_failed_at: datetime | None = None
    # A charge whose outcome is unknown: nothing is tried again until it is settled.
    unsettled: ChargeAttempt | None = None
    unsettled_was_scheduled: bool = False
    settle_at: datetime | None = None  # when the unsettled charge is looked up (again)

    @property
    def remaining(self) -> int:
        return 0 if self.status == InstallmentStatus.WAIVED else self.amount - self.paid

    @property
    def done(self) -> bool:
        return self.status in (InstallmentStatus.PAID, InstallmentStatus.WAIVED)


class InstallmentPlanBase(BaseModel):
    """What a plan's input and its state both say: whose plan it is, and what it pays."""

    installment_plan_id: str
    tenant_id: str
    customer_id: str
    currency: str
    total: int
    invoice_id: str | None = None
    description: str | None = None


class InstallmentPlanInput(InstallmentPlanBase):
    """Input of ``InstallmentPlanWorkflow``: the whole schedule, computed by the API."""

    payment_method: str
    installments: list[Installment]
    dunning: DunningPolicy = Field(default_factory=DunningPolicy)
    # None for plans started before charges were routed (their charges keep the sandbox).
    charge_policy: ChargePolicy | None = None
    # A customer's saved method (``payment_method`` is then its provider id): charged
    # off-session at the provider holding it.
    saved_method: OffSessionMethod | None = None


class InstallmentPlanState(InstallmentPlanBase):
    status: InstallmentPlanStatus = InstallmentPlanStatus.ACTIVE
    amount_paid: int = 0
    amount_waived: int = 0
    amount_outstanding: int = 0
    installments: list[Installment]
    next_charge_at: datetime | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    created_at: datetime
    updated_at: datetime

    def first_unpaid(self) -> Installment | None:
        return next((i for i in self.installments if not i.done), None)

    def refresh_totals(self) -> None:
        self.amount_paid = sum(i.paid for i in self.installments)
        self.amount_waived = sum(
            i.amount - i.paid for i in self.installments if i.status == InstallmentStatus.WAIVED
        )
        self.amount_outstanding = sum(i.remaining for i in self.installments)

    @property
    def installments_paid(self) -> int:
        return sum(1 for i in self.installments if i.status == InstallmentStatus.PAID)


class InstallmentPlanList(BaseModel):
    data: list[InstallmentPlanState]


class PayInstallmentsRequest(BaseModel):
    """Pay now: by default what remains of the next unpaid installment; more is applied to
    the following installments in order."""

    model_config = ConfigDict(extra="forbid")

    amount: AmountMinor | None = None
    installment: Annotated[StrictInt, Field(ge=1, le=MAX_INSTALLMENTS)] | None = None


class EarlyPaymentResult(BaseModel):
    attempt: ChargeAttempt
    plan: InstallmentPlanState


class OnSessionRetryResult(BaseModel):
    """The installment charged again with the customer present: act on ``payment_id``
    (``GET /v1/payments/{id}/customer-action``) while it waits for the customer."""

    payment_id: str
    plan: InstallmentPlanState


class ResolveRequest(BaseModel):
    """An operator's decision on a defaulted plan."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["retry", "waive", "cancel"]
    payment_method: PaymentMethodToken | None = None


class CancelInstallmentPlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: FreeText500 | None = None


def due_dates(first: datetime, count: int, interval: Interval) -> list[datetime]:
    """Each date from the first, never chained: Jan 31 monthly is Feb 28/29, then Mar 31."""
    return [boundary(first, interval, 1, n) for n in range(count)]


def build_installments(
    components: dict[str, int], dates: list[datetime], amounts: list[int] | None = None
) -> list[Installment]:
    """Raises ValueError when the amounts do not fit the total."""
    total = sum(components.values())
    split = split_amounts(total, len(dates), amounts)
    shares = distribute({name: components.get(name, 0) for name in COMPONENTS}, split)
    return [
        Installment(index=n + 1, due_at=due, amount=amount, **share)
        for n, (due, amount, share) in enumerate(zip(dates, split, shares, strict=True))
    ]


def build_plan_input(
    request: CreateInstallmentPlanRequest,
    *,
    installment_plan_id: str,
    tenant_id: str,
    customer_id: str,
    currency: str,
    components: dict[str, int],
    now: datetime,
    default_retry_days: list[int],
    charge_policy: ChargePolicy | None = None,
) -> InstallmentPlanInput:
    dates = request.due_dates or due_dates(
        request.first_due_at or now, request.count or 1, request.interval or "month"
    )
    installments = build_installments(components, dates, request.amounts)
    return InstallmentPlanInput(
        installment_plan_id=installment_plan_id,
        tenant_id=tenant_id,
        customer_id=customer_id,
        currency=currency,
        total=sum(components.values()),
        invoice_id=request.invoice_id,
        description=request.description,
        payment_method=request.payment_method,
        installments=installments,
        dunning=DunningPolicy.from_days(
            default_retry_days if request.dunning_retry_days is None else request.dunning_retry_days
        ),
        charge_policy=charge_policy,
    )
