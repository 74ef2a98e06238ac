"""The subscriptions read model: the workflow reports every state change here."""

from sqlalchemy import Engine
from temporalio import activity

from schemas.store.read_model import upsert_newer
from schemas.store.tables import SubscriptionRecord
from schemas.subscriptions import SubscriptionState


class SubscriptionActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def record_subscription(self, state: SubscriptionState) -> None:
        """Upsert the subscription's row; an older state never overwrites a newer one."""
        row = {
            "subscription_id": state.subscription_id,
            "tenant_id": state.tenant_id,
            "customer_id": state.customer_id,
            "plan_id": state.plan.plan_id,
            "status": state.status.value,
            "next_charge_at": state.next_charge_at,
            "state_json": state.model_dump_json(),
            "created_at": state.created_at,
            "updated_at": state.updated_at,
        }
        with self._engine.begin() as connection:
            upsert_newer(connection, SubscriptionRecord.__table__, "subscription_id", row)
