"""What subscriptions and installment plans ask of SQL besides their own read models."""

from sqlalchemy import Engine
from sqlalchemy import select
from sqlalchemy.orm import Session
from temporalio import activity

from schemas.store.tables import PaymentRecord


class BillingActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def lookup_payment_outcome(self, payment_id: str) -> str | None:
        """A billing charge's payment status as the read model has it now. A charge whose
        outcome was unknown (``requires_attention``) is settled by reconciliation; billing
        asks here before it tries again, so it never charges a period twice."""
        with Session(self._engine) as session:
            return session.execute(
                select(PaymentRecord.status).where(PaymentRecord.payment_id == payment_id)
            ).scalar_one_or_none()
