"""Refund contracts: the API request, the workflow input, and the refund's state."""

from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from schemas.ledger import JournalEntryDraft
from schemas.money import AmountMinor
from schemas.payments import StepRecord

RefundReason = Literal["requested_by_customer", "duplicate", "fraudulent"]


class RefundStatus(StrEnum):
    PENDING = "pending"  # admitted: the amount is reserved, the provider is being asked
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the provider refused; the reservation was released
    REQUIRES_ATTENTION = "requires_attention"  # provider outcome unknown: reconciliation
    REJECTED = "rejected"  # not admitted (never stored: nothing changed)

    @property
    def is_final(self) -> bool:
        return self not in (RefundStatus.PENDING, RefundStatus.REQUIRES_ATTENTION)


# Refunds whose amount is taken from the payment's refundable rest.
HOLDING_STATUSES = frozenset(
    {RefundStatus.PENDING, RefundStatus.SUCCEEDED, RefundStatus.REQUIRES_ATTENTION}
)


class CreateRefundRequest(BaseModel):
    """Body of ``POST /v1/payments/{id}/refunds``."""

    model_config = ConfigDict(extra="forbid")

    amount: AmountMinor | None = Field(
        default=None, description="Minor units; everything still refundable if omitted"
    )
    reason: RefundReason | None = None


class RefundInput(BaseModel):
    refund_id: str
    tenant_id: str
    payment_id: str
    amount: int | None = None  # None: the rest, decided under the payment's lock
    reason: RefundReason | None = None
    # How long the provider call retries before the refund is left to reconciliation.
    provider_deadline: timedelta = timedelta(minutes=10)


class RefundState(BaseModel):
    """What the ``state`` query answers and the read model stores."""

    refund_id: str
    tenant_id: str
    payment_id: str
    status: RefundStatus = RefundStatus.PENDING
    amount: int = 0
    currency: str = ""
    provider: str = ""
    reason: RefundReason | None = None
    charge_reference: str | None = None  # the provider's charge
    provider_reference: str | None = None  # the provider's refund
    failure_code: str | None = None
    failure_message: str | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class RefundList(BaseModel):
    data: list[RefundState]


class RecordRefundCommand(BaseModel):
    """Store a refund's new state and post its journal, in one SQL transaction."""

    state: RefundState
    journal: list[JournalEntryDraft] = Field(default_factory=list)
