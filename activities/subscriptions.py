"""The subscriptions read model: the workflow reports every state change here."""

from sqlalchemy import Engine
from temporalio import activity

from schemas.store.read_model import SUBSCRIPTIONS
from schemas.subscriptions import SubscriptionState


class SubscriptionActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def record_subscription(self, state: SubscriptionState) -> None:
        """Upsert the subscription's row; an older state never overwrites a newer one."""
        with self._engine.begin() as connection:
            SUBSCRIPTIONS.upsert(connection, state)
