"""Contracts of the provider activities (one async adapter interface per provider)."""

from datetime import datetime
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
    # Echoed back by providers that keep metadata, so webhooks find the saga.
    tenant_id: str | None = None
    # Another provider is next in line: an Unavailable on the first attempt is final, so
    # the saga can fail over before anything was authorized.
    may_fail_over: bool = False
    # The risk rules asked for 3-D Secure (``require_3ds``): the provider challenges the
    # customer even when the card would authorize without it.
    three_d_secure: bool = False
    # A saved method: the provider's customer that holds it, and whether the customer is
    # away (a billing charge), so the provider must not ask for an action.
    provider_customer: str | None = None
    off_session: bool = False


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
    # What the provider keeps of the captured amount (set once captured).
    fee: int = 0
    next_action_url: str | None = None
    # ISO 4217, as the provider states the charge's currency (None: an answer recorded before
    # it was read), so reconciliation never books another currency's amount as ours.
    currency: str | None = None


class CustomerAction(BaseModel):
    """What the customer's own client needs to finish a payment's pending action: a page to
    send the customer to (3-D Secure, PayPal approval), or for Stripe.js the PaymentIntent's
    client secret (``stripe.handleNextAction``). Fetched from the provider when asked for,
    so it never enters workflow history, the read model or a log line."""

    type: Literal["redirect_to_url", "use_stripe_sdk"]
    url: str | None = None
    client_secret: str | None = None


class DeclineDetails(BaseModel):
    """Carried in ``ApplicationError.details`` of a ``Declined`` failure."""

    code: str
    message: str


# Refunds, transfers and payouts. Every command carries an idempotency key derived from our
# own id (``{refund id}:refund``, ``{payout id}:transfer``, ...) and our id as ``reference``,
# so reconciliation can find the provider's object again when an answer was lost.

RefundStatus = Literal["succeeded", "failed"]
TransferStatus = Literal["paid", "reversed"]
PayoutStatus = Literal["paid", "failed"]
TransactionType = Literal[
    "charge", "refund", "refund_failure", "transfer", "transfer_reversal", "payout", "dispute"
]


class RefundCommand(BaseModel):
    refund_id: str  # ours, ``re_…``: sent as the provider refund's reference
    payment_id: str
    provider: str
    charge_reference: str  # the provider's charge id
    amount: int
    currency: str
    idempotency_key: str
    tenant_id: str | None = None


class RefundResult(BaseModel):
    reference: str  # the provider's refund id
    refund_id: str | None  # ours, as sent
    charge_reference: str
    status: RefundStatus
    amount: int
    currency: str
    failure_code: str | None = None
    failure_message: str | None = None


# Standard payouts arrive in days; instant ones in minutes, where the provider offers them.
PayoutMethod = Literal["standard", "instant"]


class TransferCommand(BaseModel):
    """Move money from the platform's provider balance to a connected account's."""

    payout_id: str  # ours, ``po_…``: sent as reference
    provider: str
    destination: str  # the provider's connected account id (ours for accounts made before)
    amount: int
    currency: str
    idempotency_key: str


class TransferResult(BaseModel):
    reference: str  # the provider's transfer id
    payout_id: str | None
    destination: str
    status: TransferStatus
    amount: int
    amount_reversed: int = 0
    currency: str


class TransferReversalCommand(BaseModel):
    payout_id: str
    provider: str
    transfer_reference: str
    amount: int
    currency: str
    idempotency_key: str


class PayoutCommand(BaseModel):
    """Pay a connected account's provider balance out to its bank account."""

    payout_id: str
    provider: str
    destination: str  # the provider's connected account id (ours for accounts made before)
    bank_account: str  # a bank account token, ``ba_…``; never an account number
    amount: int
    currency: str
    idempotency_key: str
    method: PayoutMethod = "standard"


class PayoutResult(BaseModel):
    reference: str  # the provider's payout id
    payout_id: str | None
    destination: str
    status: PayoutStatus
    amount: int
    currency: str
    failure_code: str | None = None
    failure_message: str | None = None
    # When the bank got the money (Stripe: ``paid`` with its ``arrival_date``); None while
    # the payout is on its way, which still counts as ``paid`` until the bank returns it.
    arrived_at: datetime | None = None
    arrival_date: datetime | None = None  # when the bank should have it, as the provider says


class AccountCommand(BaseModel):
    """Create a connected account at the provider (Stripe: an Express account that can
    receive transfers); the key comes from our account id."""

    account_id: str  # ours, ``acct_…``: sent as metadata
    tenant_id: str
    name: str
    bank_account: str  # a bank account token, ``ba_…``
    idempotency_key: str


class ProviderAccount(BaseModel):
    """A connected account as the provider holds it: whether it may take charges and be paid
    out, and what it still has to provide (``requirements.currently_due``)."""

    reference: str  # the provider's account id
    charges_enabled: bool
    payouts_enabled: bool
    requirements_due: list[str] = []
    disabled_reason: str | None = None


class OnboardingLinkCommand(BaseModel):
    reference: str  # the provider's account id
    refresh_url: str  # where the provider sends the user when the link has expired
    return_url: str  # where the provider sends the user when they leave onboarding


class OnboardingLink(BaseModel):
    """A single-use page at the provider where the account holder onboards."""

    url: str
    expires_at: datetime


class ProviderTransaction(BaseModel):
    """One movement of the provider's balance, as its balance-transaction list reports it.

    ``amount`` is signed from the platform's balance: captures positive, refunds, transfers
    and payouts negative, transfer reversals positive. ``fee`` is what the provider kept.
    """

    id: str
    type: TransactionType
    amount: int
    fee: int = 0
    currency: str
    source: str  # the provider object: charge, refund, transfer, reversal or payout id
    reference: str | None  # ours: payment id (charges and their refunds' ``payment_id``)…
    payment_id: str | None = None  # …for charges and refunds: the payment
    created: datetime
