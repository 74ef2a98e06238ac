"""Payment contracts: the API request, the workflow input, and the queryable state."""

from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Annotated
from typing import Literal

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints

from schemas.card_data import free_text
from schemas.card_data import refuse_card_numbers
from schemas.money import AmountMinor
from schemas.money import CurrencyCode
from schemas.risk_decision import RiskDecision
from schemas.risk_review import DEFAULT_REVIEW_TIMEOUT
from schemas.risk_review import ReviewRecord
from schemas.risk_review import ReviewTimeoutAction
from schemas.risk_signals import RiskSignals

ProviderName = Literal["sandbox", "stripe", "paypal"]
CaptureMethod = Literal["automatic", "manual"]

# Only provider tokens are ever accepted: a bare PAN or a CVV cannot match this pattern, and
# one dressed as a token (tok_4242…) is refused as a card number.
PaymentMethodToken = Annotated[
    str,
    StringConstraints(pattern=r"^(tok|pm)_[A-Za-z0-9_]{1,64}$", max_length=67),
    AfterValidator(refuse_card_numbers),
]
# The client's own id, shown in the Temporal UI (search attribute CustomerId): never a PAN.
CustomerId = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$"),
    AfterValidator(refuse_card_numbers),
]
# A customer of ours (``POST /v1/customers``) and one of its saved methods: a payment,
# subscription or plan naming them is charged with the method at the provider holding it.
CustomerRef = Annotated[str, StringConstraints(pattern=r"^cust_[0-9a-f]{24}$")]
SavedMethodRef = Annotated[str, StringConstraints(pattern=r"^spm_[0-9a-f]{24}$")]
TenantId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]
# Free text never carries a card number (schemas/card_data.py): refused, so never stored.
MetadataKey = free_text(40, min_length=1)
MetadataValue = free_text(500)
FreeText1000 = free_text(1000)


class PaymentStatus(StrEnum):
    PROCESSING = "processing"
    REQUIRES_ACTION = "requires_action"
    REQUIRES_CAPTURE = "requires_capture"
    # Authorized, held for an operator's review (a risk rule's ``review`` action).
    IN_REVIEW = "in_review"
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    CANCELED = "canceled"
    EXPIRED = "expired"
    FAILED = "failed"
    REQUIRES_ATTENTION = "requires_attention"
    # After the saga: refunds change a succeeded payment's status in the read model.
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    # The cardholder disputed the charge (a provider webhook): for operators to answer.
    DISPUTED = "disputed"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset(
    {
        PaymentStatus.SUCCEEDED,
        PaymentStatus.DECLINED,
        PaymentStatus.CANCELED,
        PaymentStatus.EXPIRED,
        PaymentStatus.FAILED,
        PaymentStatus.REQUIRES_ATTENTION,
        PaymentStatus.PARTIALLY_REFUNDED,
        PaymentStatus.REFUNDED,
        PaymentStatus.DISPUTED,
    }
)
# A payment whose captured money can still be (partly) given back.
REFUNDABLE_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED})


class CreatePaymentRequest(BaseModel):
    """Body of ``POST /v1/payments``."""

    model_config = ConfigDict(extra="forbid")

    amount: AmountMinor
    currency: CurrencyCode
    customer_id: CustomerId
    payment_method: PaymentMethodToken | SavedMethodRef = Field(
        description="A provider token, or with `customer` one of its saved methods (`spm_…`)"
    )
    customer: CustomerRef | None = Field(
        default=None, description="Our customer (`cust_…`) whose saved method is charged"
    )
    capture_method: CaptureMethod = "automatic"
    # None: chosen by the routing rules (schemas/domain/routing.py), with failover.
    provider: ProviderName | None = None
    description: FreeText1000 | None = None
    metadata: Annotated[dict[MetadataKey, MetadataValue], Field(max_length=50)] = Field(
        default_factory=dict
    )
    risk_signals: RiskSignals = Field(
        default_factory=RiskSignals,
        description="What the client knows about the customer, for the fraud check",
    )


class PaymentInput(CreatePaymentRequest):
    """Input of ``PaymentWorkflow``: the request plus identity and timing policy."""

    payment_id: str
    tenant_id: TenantId
    provider: ProviderName = "sandbox"
    # Tried in order when ``provider`` is Unavailable before anything was authorized.
    fallback_providers: list[ProviderName] = Field(default_factory=list)
    authorization_hold: timedelta = timedelta(days=7)
    action_timeout: timedelta = timedelta(hours=1)
    provider_deadline: timedelta = timedelta(minutes=10)
    # A payment the risk rules sent to review is decided by ``review_timeout_action`` when no
    # operator decided within ``review_timeout``.
    review_timeout: timedelta = DEFAULT_REVIEW_TIMEOUT
    review_timeout_action: ReviewTimeoutAction = "reject"
    # The OpenTelemetry trace of the request that started the payment, for support.
    trace_id: str | None = None
    # A saved method (then ``payment_method`` is the provider's id of it): the provider's
    # customer that holds it, and whether the customer is away (billing charges).
    provider_customer: str | None = None
    off_session: bool = False


class CaptureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: AmountMinor | None = Field(
        default=None, description="Partial capture amount; the whole authorization if omitted"
    )


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: free_text(200) | None = None


class ConfirmRequest(BaseModel):
    """Sent after the customer completed the provider's action (3-D Secure)."""

    model_config = ConfigDict(extra="forbid")


StepKind = Literal["step", "compensation"]
StepOutcome = Literal["succeeded", "failed", "skipped"]


class StepRecord(BaseModel):
    name: str
    kind: StepKind = "step"
    outcome: StepOutcome
    started_at: datetime
    finished_at: datetime
    detail: str | None = None


class ProviderAttempt(BaseModel):
    """One provider the payment was sent to; a failover leaves two or more."""

    provider: str
    outcome: Literal["succeeded", "declined", "unavailable", "failed"]
    detail: str | None = None


class DisputeRecord(BaseModel):
    """A dispute the provider reported (webhook), kept for operators."""

    provider_event_id: str
    reason: str | None = None
    amount: int | None = None
    currency: str | None = None
    opened_at: datetime


class ProviderDisagreement(BaseModel):
    """A provider's capture of the payment for another amount or currency than the payment's,
    as reconciliation found it: kept for an operator, never booked."""

    amount: int
    captured_amount: int
    currency: str | None  # None: the provider's answer did not say


class PaymentState(BaseModel):
    """What the ``state`` query answers and the read model stores."""

    payment_id: str
    tenant_id: str
    status: PaymentStatus = PaymentStatus.PROCESSING
    amount: int
    currency: str
    customer_id: str
    provider: str
    capture_method: CaptureMethod
    description: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    authorized_amount: int = 0
    captured_amount: int = 0
    refunded_amount: int = 0
    # What the provider kept of the captured amount.
    fee: int = 0
    provider_reference: str | None = None
    next_action_url: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    # Providers tried, in order (routing and failover); empty for payments made before it.
    provider_attempts: list[ProviderAttempt] = Field(default_factory=list)
    dispute: DisputeRecord | None = None
    # The provider's card fingerprint the client sent (risk_signals), for velocity by card.
    card_fingerprint: str | None = None
    # The fraud check's decision: action, fired rules, score (None before it ran).
    risk: RiskDecision | None = None
    # The manual review, when the rules asked for one: who decided, when and why.
    review: ReviewRecord | None = None
    # The trace of the request that started the payment (X-Trace-Id), for support.
    trace_id: str | None = None
    # Set when reconciliation refused to book the provider's capture (it disagrees).
    provider_disagreement: ProviderDisagreement | None = None
    created_at: datetime
    updated_at: datetime
