"""Payment states carrying a risk decision and an operator's review, as the saga records
them, written to the read model, and the dispute that may follow: for the feedback-label
tests. Plus the features of a typical fraud and of a typical legit payment."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine

from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.provider_events import ProviderEvent
from schemas.risk import RiskFeatures
from schemas.risk_decision import FiredRule
from schemas.risk_decision import RiskDecision
from schemas.risk_review import ReviewRecord
from schemas.store.read_model import upsert_payment
from tests.support.payments import processing_state

FRAUDULENT = RiskFeatures(
    amount_zscore=4.5,
    velocity_count_1h=7,
    velocity_amount_1h=84_000,
    new_customer=False,
    country_mismatch=True,
    hour_of_day=3,
    failed_attempts_24h=4,
)
LEGIT = RiskFeatures(
    amount_zscore=0.1,
    velocity_count_1h=0,
    velocity_amount_1h=0,
    new_customer=False,
    country_mismatch=False,
    hour_of_day=14,
    failed_attempts_24h=0,
)


def reviewed_state(
    tenant_id: str,
    features: RiskFeatures | None,
    decision: str | None,
    channel: str | None = "temporal",
    provider: str = "stripe",
) -> PaymentState:
    """A payment the rules sent to review, decided (``decision``) through ``channel`` (by
    default a platform operator's Temporal UI/CLI) or still open (``decision`` None), at
    ``provider`` (by default one that moves money: a sandbox payment is never a label)."""
    opened = datetime.now(UTC) - timedelta(minutes=5)
    state = processing_state(tenant_id=tenant_id, amount=250_000, provider=provider)
    timed_out = channel == "timeout"
    return state.model_copy(
        update={
            "status": PaymentStatus.IN_REVIEW,
            "risk": RiskDecision(
                action="review",
                rule="big_amount",
                fired=[FiredRule(id="big_amount", action="review")],
                score=0.42,
                model_version="synthetic-test",
                rules_version=1,
                features=features,
            ),
            "review": ReviewRecord(
                opened_at=opened,
                deadline=opened + timedelta(hours=24),
                timeout_action="reject",
                decision=decision,
                reviewer=None if timed_out or not decision else "alice",
                reason=None if timed_out or not decision else "checked",
                channel=channel if decision else None,
                decided_at=opened + timedelta(minutes=1) if decision else None,
            ),
            "created_at": opened,
            "updated_at": opened,
        }
    )


def later(state: PaymentState, status: PaymentStatus, **update) -> PaymentState:
    """The next state the saga records, a few seconds on."""
    return state.model_copy(
        update={"status": status, "updated_at": state.updated_at + timedelta(seconds=3), **update}
    )


def record_states(engine: Engine, *states: PaymentState) -> None:
    """Each state into the read model in its own transaction, as the saga records them."""
    for state in states:
        with engine.begin() as connection:
            upsert_payment(connection, state)


def dispute_event(payment: PaymentState) -> ProviderEvent:
    """The provider's webhook: the customer disputes ``payment`` as fraudulent."""
    return ProviderEvent(
        provider="stripe",
        event_id=f"evt_{payment.payment_id}",
        event_type="charge.dispute.created",
        kind="dispute_opened",
        object_reference="pi_1",
        tenant_id=payment.tenant_id,
        payment_id=payment.payment_id,
        amount=payment.amount,
        currency=payment.currency,
        detail="fraudulent",
        occurred_at=datetime.now(UTC),
    )
