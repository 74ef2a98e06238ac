"""What recurring billing shares: dunning (retrying a failed charge) and charge attempts."""

from datetime import datetime
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel
from pydantic import Field

from schemas.domain.routing import RoutingPolicy
from schemas.payments import PaymentStatus
from schemas.payments import ProviderName
from schemas.risk_review import ReviewTimeoutAction

# A billing charge's payment ended with the money taken, or surely without it; any other
# status (``requires_attention``) leaves the charge unsettled until reconciliation.
CHARGED = frozenset(
    {PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}
)
NOT_CHARGED = frozenset(
    {PaymentStatus.DECLINED, PaymentStatus.FAILED, PaymentStatus.CANCELED, PaymentStatus.EXPIRED}
)
# How long a billing charge retried with its customer present waits for the customer's
# action (3-D Secure) before it fails.
ON_SESSION_ACTION_TIMEOUT = timedelta(hours=1)
# How often a charge whose outcome is unknown is looked up again.
UNSETTLED_RECHECK = timedelta(hours=1)


def _days(days: list[int]) -> list[timedelta]:
    return [timedelta(days=d) for d in days]


class ChargePolicy(BaseModel):
    """How a billing charge is made, fixed by the API when the subscription or plan starts
    from the settings ``POST /v1/payments`` uses: the routing (applied to each charge's
    payment method, so a new method is routed too), the provider deadline and the review
    policy. Carried in the saga's input, so a replay never re-routes."""

    routing: RoutingPolicy
    configured: list[ProviderName]
    authorization_hold: timedelta
    provider_deadline: timedelta
    review_timeout: timedelta
    review_timeout_action: ReviewTimeoutAction


class DunningPolicy(BaseModel):
    """After a failed charge, retry it ``retry_delays[i]`` after the *first* failure (the
    Stripe-style 1, 3, 7 days by default); when the last retry fails, dunning is exhausted."""

    retry_delays: Annotated[list[timedelta], Field(max_length=10)] = Field(
        default_factory=lambda: _days([1, 3, 7])
    )

    @classmethod
    def from_days(cls, days: list[int]) -> "DunningPolicy":
        return cls(retry_delays=_days(sorted(days)))


class ChargeAttempt(BaseModel):
    """One try at charging a period or installment: a payment saga of its own."""

    attempt: int
    payment_id: str
    amount: int
    status: str  # the payment's final status: succeeded, declined, failed, …
    failure_code: str | None = None
    failure_message: str | None = None
    at: datetime

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def outcome_unknown(self) -> bool:
        """The provider may have charged: never try again before reconciliation settles it
        (``lookup_payment_outcome``)."""
        return self.status == "requires_attention"
