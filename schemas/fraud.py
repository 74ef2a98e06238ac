"""Contracts of the fraud-check activity."""

from typing import Literal

from pydantic import BaseModel

from schemas.payments import PaymentState


class ScreeningCommand(BaseModel):
    """The payment to screen; it is also recorded in the read model as ``processing``."""

    state: PaymentState
    payment_method: str


class ScreeningDecision(BaseModel):
    action: Literal["allow", "block"]
    rule: str | None = None
    reason: str | None = None
