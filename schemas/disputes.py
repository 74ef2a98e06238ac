"""Disputes (chargebacks): the provider's case, mirrored as a resource and driven by its events.

A cardholder's bank takes the payment back: the provider withdraws the disputed amount and
its dispute fee from the balance, the merchant may submit evidence (or accept the dispute),
and the bank decides. Statuses are Stripe's own words; a won dispute's amount comes back
(Stripe keeps the fee it charged when the dispute was received, and says so with the
reinstatement's balance transaction, whose negative fee, if any, is a fee returned).
"""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from pydantic import Field

from schemas.card_data import free_text


class DisputeStatus(StrEnum):
    WARNING_NEEDS_RESPONSE = "warning_needs_response"
    WARNING_UNDER_REVIEW = "warning_under_review"
    WARNING_CLOSED = "warning_closed"
    NEEDS_RESPONSE = "needs_response"
    UNDER_REVIEW = "under_review"
    WON = "won"
    LOST = "lost"

    @property
    def is_final(self) -> bool:
        return self in (DisputeStatus.WON, DisputeStatus.LOST, DisputeStatus.WARNING_CLOSED)


class DisputeFunds(BaseModel):
    """One movement of the merchant's money for the dispute, as the provider booked it:
    ``amount`` signed from the balance (a withdrawal is negative), ``fee`` what the provider
    charged (negative: a fee given back)."""

    reference: str  # the provider's balance transaction
    amount: int
    fee: int = 0
    currency: str
    created: datetime


class ProviderDispute(BaseModel):
    """The provider's dispute as an adapter reads it (no card data: ids, money, codes)."""

    reference: str  # the provider's dispute id (``dp_…``, PayPal's ``PP-D-…``)
    charge_reference: str | None  # what the payment knows: PaymentIntent, order or capture
    amount: int
    currency: str
    reason: str | None = None
    status: DisputeStatus
    evidence_due_by: datetime | None = None
    evidence_submissions: int = 0
    funds: list[DisputeFunds] = Field(default_factory=list)


class DisputeState(BaseModel):
    """What ``GET /v1/disputes/{id}`` answers, the workflow's query and the read model's row."""

    dispute_id: str
    tenant_id: str
    payment_id: str
    provider: str
    provider_reference: str
    amount: int
    currency: str
    reason: str | None = None
    status: DisputeStatus
    evidence_due_by: datetime | None = None
    evidence_submissions: int = 0
    # Booked in the ledger so far (minor units): withdrawn from and given back to the
    # merchant balance, and the dispute fee net of any fee returned.
    funds_withdrawn: int = 0
    funds_reinstated: int = 0
    fee: int = 0
    # What the merchant balance lacked to book a withdrawal (nothing was booked then): the
    # next read of the dispute tries again; reconciliation shows it missing meanwhile.
    ledger_shortfall: int = 0
    created_at: datetime
    updated_at: datetime


class DisputeInput(BaseModel):
    """Start of ``DisputeWorkflow``: which provider dispute, on whose payment."""

    dispute_id: str
    tenant_id: str
    payment_id: str
    provider: str
    provider_reference: str


class SyncDisputeCommand(BaseModel):
    """Read the dispute at the provider, then write its row and book its funds."""

    dispute: DisputeInput


# Free text never carries a card number: refused with a 422, so never sent or stored. The
# lengths keep a whole body under the API's 64 KiB limit, however its characters are escaped.
Evidence = free_text(2_000)
Short = free_text(500)


class DisputeEvidence(BaseModel):
    """Body of ``POST /v1/disputes/{id}/evidence``: Stripe's text evidence fields (files are
    uploaded at the provider), and whether to submit now (final) or only stage it."""

    product_description: Evidence | None = None
    customer_name: Short | None = None
    customer_email_address: Short | None = None
    shipping_tracking_number: Short | None = None
    shipping_carrier: Short | None = None
    refund_refusal_explanation: Evidence | None = None
    uncategorized_text: Evidence | None = None
    submit: bool = True

    def fields(self) -> dict[str, str]:
        return self.model_dump(exclude={"submit"}, exclude_none=True)


class DisputeActionCommand(BaseModel):
    """Submit evidence for a dispute (``evidence``), or accept it (``None``), at the provider;
    ``idempotency_key`` comes from the dispute and the client's request."""

    provider: str
    provider_reference: str
    idempotency_key: str
    evidence: DisputeEvidence | None = None


class DisputeList(BaseModel):
    data: list[DisputeState]
    has_more: bool
    next_cursor: str | None = None
