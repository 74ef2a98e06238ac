"""Fraud check: simple configurable rules, evaluated against the read model in SQL."""

from sqlalchemy import Engine, func, select
from temporalio import activity

from activities.read_model import upsert_payment
from schemas import steps
from schemas.fraud import ScreeningCommand, ScreeningDecision
from schemas.settings import FraudRules
from schemas.tables import PaymentRecord


class FraudActivities:
    def __init__(self, engine: Engine, rules: FraudRules) -> None:
        self._engine = engine
        self._rules = rules

    @activity.defn(name=steps.SCREEN_PAYMENT)
    def screen_payment(self, command: ScreeningCommand) -> ScreeningDecision:
        """Record the payment as ``processing`` and decide whether it may proceed."""
        state, rules = command.state, self._rules
        with self._engine.begin() as connection:
            upsert_payment(connection, state)
            ceiling = rules.amount_ceiling.get(state.currency)
            if ceiling is not None and state.amount > ceiling:
                return _block("amount_ceiling", f"amount above the {state.currency} ceiling")
            if state.customer_id in rules.blocked_customers:
                return _block("blocked_customer", "customer is blocked")
            if command.payment_method in rules.blocked_payment_methods:
                return _block("blocked_payment_method", "payment method is blocked")
            recent = connection.execute(
                select(func.count()).where(
                    PaymentRecord.tenant_id == state.tenant_id,
                    PaymentRecord.customer_id == state.customer_id,
                    PaymentRecord.created_at >= state.created_at - rules.velocity_window,
                    PaymentRecord.payment_id != state.payment_id,
                )
            ).scalar_one()
            if recent >= rules.velocity_max_payments:
                return _block("velocity", f"{recent} payments by this customer in the window")
        return ScreeningDecision(action="allow")


def _block(rule: str, reason: str) -> ScreeningDecision:
    return ScreeningDecision(action="block", rule=rule, reason=reason)
