"""Plans and subscriptions: API requests, the workflow input (which carries the state
across continue-as-new) and the queryable state with its billing periods."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictInt
from pydantic import StringConstraints

from schemas.billing import ChargeAttempt
from schemas.billing import ChargePolicy
from schemas.billing import DunningPolicy
from schemas.card_data import free_text
from schemas.customers import OffSessionMethod
from schemas.domain.billing_periods import Interval
from schemas.instants import ComparableDatetime
from schemas.instants import SchedulableDatetime
from schemas.money import AmountMinor
from schemas.money import CurrencyCode
from schemas.payments import CustomerId
from schemas.payments import CustomerRef
from schemas.payments import PaymentMethodToken
from schemas.payments import SavedMethodRef

TrialDays = Annotated[StrictInt, Field(ge=0, le=730)]
DunningExhausted = Literal["cancel", "unpaid"]
# Periods kept in the state (and the workflow's input); older ones are only counted there,
# and every period stays in the read model's history as it happened.
KEPT_PERIODS = 24


class CreatePlanRequest(BaseModel):
    """Body of ``POST /v1/plans``."""

    model_config = ConfigDict(extra="forbid")

    name: free_text(200, min_length=1)
    amount: AmountMinor
    currency: CurrencyCode
    interval: Interval
    interval_count: Annotated[StrictInt, Field(ge=1, le=12)] = 1
    trial_days: TrialDays = 0


class Plan(CreatePlanRequest):
    plan_id: str
    created_at: datetime


class PlanList(BaseModel):
    data: list[Plan]


class CreateSubscriptionRequest(BaseModel):
    """Body of ``POST /v1/subscriptions``."""

    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    plan_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    payment_method: PaymentMethodToken | SavedMethodRef = Field(
        description="A provider token, or with `customer` one of its saved methods (`spm_…`)"
    )
    customer: CustomerRef | None = Field(
        default=None, description="Our customer (`cust_…`), charged off-session"
    )
    start_at: ComparableDatetime | None = Field(
        default=None, description="When billing (or the trial) starts; default now"
    )
    trial_days: TrialDays | None = Field(default=None, description="Overrides the plan's")
    on_dunning_exhausted: DunningExhausted = "cancel"


class SubscriptionStatus(StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    PAUSED = "paused"
    UNPAID = "unpaid"
    CANCELED = "canceled"


PeriodStatus = Literal[
    "charging", "paid", "past_due", "requires_attention", "failed", "skipped", "canceled"
]
LineKind = Literal[
    "plan", "proration_credit", "proration_charge", "credit_applied", "credit_carried_forward"
]


class Line(BaseModel):
    """One line of a period's charge; the lines of a period sum to its amount."""

    kind: LineKind
    description: str
    amount: int  # signed: credits are negative


class BillingPeriod(BaseModel):
    index: int
    start: datetime
    end: datetime
    status: PeriodStatus
    amount: int = 0
    lines: list[Line] = Field(default_factory=list)
    payment_id: str | None = None
    attempts: list[ChargeAttempt] = Field(default_factory=list)
    first_failed_at: datetime | None = None


class SubscriptionState(BaseModel):
    subscription_id: str
    tenant_id: str
    customer_id: str
    plan: Plan
    status: SubscriptionStatus
    start_at: datetime
    trial_end: datetime | None = None
    # Period k starts at anchor + k * interval (schemas/domain/billing_periods.py).
    anchor: datetime
    on_dunning_exhausted: DunningExhausted = "cancel"
    next_period: int = 0
    next_charge_at: datetime | None = None
    next_retry_at: datetime | None = None
    grace_ends_at: datetime | None = None
    paused_at: datetime | None = None
    resume_at: datetime | None = None
    cancel_at_period_end: bool = False
    canceled_at: datetime | None = None
    # Proration lines waiting for the next period's charge, and credit left over.
    pending_lines: list[Line] = Field(default_factory=list)
    credit_balance: int = 0
    periods: list[BillingPeriod] = Field(default_factory=list)
    earlier_periods: int = 0
    runs: int = 1  # workflow runs (continue-as-new starts a new one)
    created_at: datetime
    updated_at: datetime


class SubscriptionList(BaseModel):
    data: list[SubscriptionState]


class SubscriptionInput(BaseModel):
    """The workflow's input. ``state`` is set when a run continues as new; the payment
    method is here (not in the state shown to clients) and follows its updates."""

    subscription_id: str
    tenant_id: str
    customer_id: str
    plan: Plan
    payment_method: str
    start_at: datetime
    trial_days: int = 0
    on_dunning_exhausted: DunningExhausted = "cancel"
    dunning: DunningPolicy = Field(default_factory=DunningPolicy)
    # None for subscriptions started before charges were routed: their charges keep the
    # sandbox, as they always did.
    charge_policy: ChargePolicy | None = None
    # A customer's saved method (``payment_method`` is then its provider id): charged
    # off-session at the provider holding it.
    saved_method: OffSessionMethod | None = None
    created_at: datetime
    # Test hook: continue as new once the history has this many events.
    history_limit: int | None = None
    state: SubscriptionState | None = None


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resume_at: SchedulableDatetime | None = Field(
        default=None, description="Resume automatically then"
    )


class CancelSubscriptionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at_period_end: StrictBool = False


class UpdatePaymentMethodRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_method: PaymentMethodToken


class ChangePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class ChangePlan(BaseModel):
    """The update sent to the workflow: the plan as loaded by the API."""

    plan: Plan
