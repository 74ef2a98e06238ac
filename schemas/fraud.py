"""Contracts of the fraud-check activity: the payment to screen and the risk decision."""

from pydantic import BaseModel
from pydantic import Field

from schemas.payments import PaymentState
from schemas.risk_decision import FiredRule
from schemas.risk_decision import RiskDecision
from schemas.risk_signals import RiskSignals


class ScreeningCommand(BaseModel):
    """The payment to screen; it is also recorded in the read model as ``processing``."""

    state: PaymentState
    payment_method: str
    signals: RiskSignals = Field(default_factory=RiskSignals)


# The name the fraud-check activity's contract has always had; the same model.
ScreeningDecision = RiskDecision

__all__ = ["FiredRule", "RiskDecision", "ScreeningCommand", "ScreeningDecision"]
