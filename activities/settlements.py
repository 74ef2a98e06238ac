"""What the settlement saga reads of our own records before it asks the provider."""

from sqlalchemy import Engine
from temporalio import activity

from schemas.payouts import PayoutState
from schemas.refunds import RefundState
from schemas.settlements import RecordedCommand
from schemas.store.read_model import PAYOUTS
from schemas.store.read_model import REFUNDS


class SettlementActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def recorded_refund(self, command: RecordedCommand) -> RefundState | None:
        with self._engine.connect() as connection:
            return REFUNDS.get(connection, command.tenant_id, command.subject_id)

    @activity.defn
    def recorded_payout(self, command: RecordedCommand) -> PayoutState | None:
        with self._engine.connect() as connection:
            return PAYOUTS.get(connection, command.tenant_id, command.subject_id)
