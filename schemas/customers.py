"""Customers and their saved payment methods: the API's requests and answers, what the
adapters are asked to do at the provider that holds a method, and what a billing saga
carries to charge a saved method off-session.

A saved method lives at one provider (a Stripe PaymentMethod attached to the customer's
Stripe Customer; a sandbox token), so it always charges there. Only what the provider
answers about a card is kept: brand, last four digits, expiry, fingerprint.
"""

from datetime import datetime
from datetime import timedelta
from typing import Annotated
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StringConstraints

from schemas.card_data import free_text
from schemas.payments import PaymentMethodToken
from schemas.payments import ProviderName
from schemas.payments import SavedMethodRef

Email = Annotated[
    str, StringConstraints(pattern=r"^[^@\s\x00]{1,64}@[^@\s\x00]{1,189}$", max_length=254)
]
# ``requires_action``: a card being saved waits for its customer (3-D Secure in the
# provider's setup flow); ``failed``: the provider refused it, or the customer never acted.
SavedMethodStatus = Literal["requires_action", "active", "detached", "failed"]


class CreateCustomerRequest(BaseModel):
    """Body of ``POST /v1/customers``."""

    model_config = ConfigDict(extra="forbid")

    name: free_text(200, min_length=1) | None = None
    email: Email | None = None
    description: free_text(500) | None = None


class UpdateCustomerRequest(CreateCustomerRequest):
    """Body of ``PATCH /v1/customers/{id}``: only the fields sent change."""

    default_payment_method: SavedMethodRef | None = Field(
        default=None, description="One of the customer's active saved methods, `spm_…`"
    )


class Customer(BaseModel):
    customer_id: str
    tenant_id: str
    name: str | None = None
    email: str | None = None
    description: str | None = None
    default_payment_method: str | None = None
    # The customer's id at each provider that holds one of its methods (Stripe's ``cus_…``).
    provider_customers: dict[str, str] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class CustomerList(BaseModel):
    data: list[Customer]


class AttachPaymentMethodRequest(BaseModel):
    """Body of ``POST /v1/customers/{id}/payment-methods``: a provider token (Stripe.js's
    ``pm_…``, a sandbox ``tok_…``), never card data."""

    model_config = ConfigDict(extra="forbid")

    payment_method: PaymentMethodToken
    provider: ProviderName | None = Field(
        default=None, description="Who holds the token; by default `pm_…` Stripe, `tok_…` sandbox"
    )
    set_default: StrictBool = False


class SavedPaymentMethod(BaseModel):
    payment_method_id: str
    customer_id: str
    tenant_id: str
    provider: str
    # The provider's own id of the method (Stripe's ``pm_…``).
    provider_reference: str
    status: SavedMethodStatus = "active"
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str | None = None
    # The provider's setup flow (Stripe's SetupIntent ``seti_…``) that saved it.
    setup_reference: str | None = None
    failure_code: str | None = None
    created_at: datetime
    detached_at: datetime | None = None


class SavedPaymentMethodList(BaseModel):
    data: list[SavedPaymentMethod]


# At the provider.


class SaveCustomerCommand(BaseModel):
    """Create the customer's mirror at a provider (once: the key is the customer's)."""

    customer_id: str
    tenant_id: str
    provider: str
    idempotency_key: str


class AttachMethodCommand(BaseModel):
    customer_reference: str  # the provider's customer id
    payment_method: str  # the provider's token
    idempotency_key: str


class ProviderCard(BaseModel):
    """What the provider says about a saved card; the number never leaves it."""

    reference: str
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str | None = None


class OffSessionMethod(BaseModel):
    """A saved method charged while its customer is away (a subscription, an installment
    plan): pinned to its provider, with the provider's customer and method ids."""

    payment_method_id: str
    provider: ProviderName
    customer_reference: str
    method_reference: str


# Saving a card through the provider's setup flow (Stripe: a SetupIntent, off-session
# usage), which may ask the customer to authenticate first: a saga of its own.

SetupStatus = Literal["succeeded", "requires_action"]


class SetupCommand(BaseModel):
    payment_method_id: str  # ours, ``spm_…``: the provider's metadata names it
    tenant_id: str
    provider: str
    customer_reference: str
    payment_method: str  # the provider's token
    idempotency_key: str


class SetupReference(BaseModel):
    provider: str
    reference: str  # the provider's setup, ``seti_…``


class CancelSetupCommand(SetupReference):
    """Cancel a setup its customer abandoned (key ``{saved method}:cancel_setup``)."""

    idempotency_key: str


class SetupResult(BaseModel):
    reference: str
    status: SetupStatus
    card: ProviderCard | None = None  # once succeeded


class SaveMethodInput(BaseModel):
    """Input of ``SavePaymentMethodWorkflow``."""

    tenant_id: str
    customer_id: str
    payment_method_id: str
    provider: ProviderName
    customer_reference: str
    token: str
    set_default: bool = False
    action_timeout: timedelta = timedelta(hours=1)
    created_at: datetime


class DefaultMethodCommand(BaseModel):
    provider: str
    customer_reference: str
    method_reference: str


class RecordedMethod(BaseModel):
    """What ``record_saved_method`` did: the row, and whether it became the default."""

    method: SavedPaymentMethod
    became_default: bool = False


class RecordMethod(BaseModel):
    method: SavedPaymentMethod
    make_default: bool = False
