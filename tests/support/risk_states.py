"""Payment states carrying a risk decision and an operator's review, as the saga records
them: for the feedback-label tests."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.risk import RiskFeatures
from schemas.risk_decision import FiredRule
from schemas.risk_decision import RiskDecision
from schemas.risk_review import ReviewRecord
from tests.support.payments import processing_state


def reviewed_state(
    tenant_id: str,
    features: RiskFeatures | None,
    decision: str | None,
    channel: str | None = "api",
) -> PaymentState:
    """A payment the rules sent to review, decided (``decision``) through ``channel`` or
    still open (``decision`` None)."""
    opened = datetime.now(UTC) - timedelta(minutes=5)
    state = processing_state(tenant_id=tenant_id, amount=250_000)
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
