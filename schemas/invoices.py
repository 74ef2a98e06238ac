"""Invoices: line items with exact totals (schemas/domain/invoice_totals.py), paid by a plan."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictInt
from pydantic import StringConstraints
from pydantic import model_validator

from schemas.card_data import free_text
from schemas.domain.invoice_totals import parse_rate
from schemas.instants import SchedulableInstant
from schemas.money import MAX_AMOUNT_MINOR
from schemas.money import CurrencyCode
from schemas.payments import CustomerId
from schemas.payments import CustomerRef
from schemas.payments import PaymentMethodToken
from schemas.payments import SavedMethodRef


def _rate(value: str) -> str:
    parse_rate(value)
    return value


Rate = Annotated[
    str,
    StringConstraints(pattern=r"^0(\.[0-9]{1,4})?$", max_length=6),
    AfterValidator(_rate),
    Field(
        description="A decimal string, 0 ≤ rate < 1, at most 4 decimal places",
        examples=["0.0825"],
    ),
]


class InvoiceStatus(StrEnum):
    OPEN = "open"
    EXPIRED = "expired"  # computed on read: expires_at passed and no payment started
    IN_PAYMENT = "in_payment"
    PAID = "paid"
    DEFAULTED = "defaulted"
    CANCELED = "canceled"


class LineItemInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: free_text(500, min_length=1)
    quantity: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    unit_amount: Annotated[
        StrictInt, Field(ge=0, le=MAX_AMOUNT_MINOR, description="Minor units, e.g. cents")
    ]
    tax_rate: Rate = "0"


LineItems = Annotated[list[LineItemInput], Field(min_length=1, max_length=100)]


def _expires_after_due(due_at: datetime | None, expires_at: datetime | None) -> None:
    if due_at is not None and expires_at is not None and expires_at <= due_at:
        raise ValueError("expires_at must be after due_at")


class CreateInvoiceRequest(BaseModel):
    """Body of ``POST /v1/invoices``."""

    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId
    currency: CurrencyCode
    line_items: LineItems
    service_fee_rate: Rate = "0"
    due_at: SchedulableInstant
    expires_at: SchedulableInstant | None = None

    @model_validator(mode="after")
    def _dates(self):
        _expires_after_due(self.due_at, self.expires_at)
        return self


class UpdateInvoiceRequest(BaseModel):
    """Body of ``PATCH /v1/invoices/{id}``: what is sent replaces what is stored."""

    model_config = ConfigDict(extra="forbid")

    line_items: LineItems | None = None
    service_fee_rate: Rate | None = None
    due_at: SchedulableInstant | None = None
    expires_at: SchedulableInstant | None = None


class LineItem(LineItemInput):
    subtotal: int
    tax: int


class Invoice(BaseModel):
    invoice_id: str
    tenant_id: str
    customer_id: str
    currency: str
    status: InvoiceStatus
    line_items: list[LineItem]
    service_fee_rate: str
    subtotal: int
    tax: int
    fee: int
    total: int
    amount_paid: int = 0
    due_at: datetime
    expires_at: datetime | None = None
    locked_at: datetime | None = None
    installment_plan_id: str | None = None
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="after")
    def _dates(self):
        _expires_after_due(self.due_at, self.expires_at)
        return self


class InvoiceList(BaseModel):
    data: list[Invoice]


class PayInvoiceRequest(BaseModel):
    """Body of ``POST /v1/invoices/{id}/pay``: pay in full now."""

    model_config = ConfigDict(extra="forbid")

    payment_method: PaymentMethodToken | SavedMethodRef = Field(
        description="A provider token, or with `customer` one of its saved methods (`spm_…`)"
    )
    customer: CustomerRef | None = Field(
        default=None, description="Our customer (`cust_…`), charged off-session"
    )
