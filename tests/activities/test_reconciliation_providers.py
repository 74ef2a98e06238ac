"""Reconciliation asks only the providers its worker has: a record of a provider switched off
here (the sandbox in production) is left for a worker that has it, instead of failing the
run on every attempt."""

from datetime import UTC
from datetime import datetime

from sqlmodel import Session

from activities.reconciliation import ReconciliationActivities
from schemas.payments import PaymentStatus
from schemas.reconciliation import FindUnresolvedCommand
from schemas.store.tables import PaymentRecord
from tests.support.payments import processing_state


def add_unresolved_payment(engine, provider: str) -> str:
    now = datetime.now(UTC)
    state = processing_state(provider=provider, status=PaymentStatus.REQUIRES_ATTENTION)
    with Session(engine) as session, session.begin():
        session.add(
            PaymentRecord(
                payment_id=state.payment_id,
                tenant_id=state.tenant_id,
                status=state.status.value,
                customer_id=state.customer_id,
                amount=state.amount,
                currency=state.currency,
                provider=provider,
                capture_method="automatic",
                state_json=state.model_dump_json(),
                created_at=now,
                updated_at=now,
            )
        )
    return state.payment_id


def test_records_of_a_provider_not_configured_here_are_left_alone(engine):
    ours = add_unresolved_payment(engine, "stripe")
    add_unresolved_payment(engine, "sandbox")
    activities = ReconciliationActivities(engine, {"stripe": object()})
    found = activities.find_unresolved(FindUnresolvedCommand())
    assert [payment.payment_id for payment in found.payments] == [ours]
