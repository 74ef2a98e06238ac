"""Contracts of the provider activities (one async adapter interface per provider)."""

from typing import Literal

from pydantic import BaseModel

ChargeStatus = Literal["requires_action", "authorized", "captured", "voided", "refunded"]


class AuthorizeCommand(BaseModel):
    payment_id: str
    provider: str
    amount: int
    currency: str
    payment_method: str
    customer_id: str
    capture: bool  # automatic capture: one authorize-and-capture call
    idempotency_key: str


class ChargeCommand(BaseModel):
    """Capture, void, refund or action confirmation of an existing provider charge."""

    payment_id: str
    provider: str
    reference: str
    amount: int | None = None
    currency: str
    idempotency_key: str


class ChargeResult(BaseModel):
    reference: str
    status: ChargeStatus
    amount: int
    authorized_amount: int = 0
    captured_amount: int = 0
    refunded_amount: int = 0
    next_action_url: str | None = None


class DeclineDetails(BaseModel):
    """Carried in ``ApplicationError.details`` of a ``Declined`` failure."""

    code: str
    message: str
