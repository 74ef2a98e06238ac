"""Where a saga saving a payment method got to, written to the customer's saved methods."""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Engine
from temporalio import activity

from schemas.customers import RecordedMethod
from schemas.customers import RecordMethod
from schemas.store import customers


class SavedMethodActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def record_saved_method(self, record: RecordMethod) -> RecordedMethod:
        """Upsert the method's row; an active one may become the customer's default."""
        with self._engine.begin() as connection:
            return customers.record_method(
                connection, record.method, record.make_default, datetime.now(UTC)
            )
