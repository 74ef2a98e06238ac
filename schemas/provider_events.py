"""Provider webhooks after verification: one shape for every provider's events.

An adapter's ``verify_webhook`` turns a raw, signed request into a ``ProviderEvent`` (or
raises ``WebhookSignatureError``); the API stores it once per ``(provider, event_id)`` and
signals the saga it concerns. A signal is only a hint: the saga reads the provider's truth
again before acting, so duplicated or out-of-order events change nothing twice.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

ProviderEventKind = Literal[
    # The customer finished 3-D Secure or approved the order: the payment may authorize.
    "action_completed",
    # The provider reports an authorization or capture it holds (possibly asynchronous).
    "payment_authorized",
    "payment_captured",
    "payment_failed",
    "payment_canceled",
    "refund_succeeded",
    "refund_failed",
    "dispute_opened",
    # The provider's dispute moved funds, took evidence or changed status.
    "dispute_updated",
    "dispute_closed",
    "payout_paid",
    "payout_failed",
    # A connected account's standing changed (payouts enabled, requirements due): the API
    # asks the provider for the account and stores what it says.
    "account_updated",
    # Verified and stored, but nothing in paysaga acts on it.
    "ignored",
]


class WebhookSignatureError(Exception):
    """The request is not a genuine, fresh event from the provider (400, nothing stored)."""


class ProviderEvent(BaseModel):
    provider: str
    event_id: str  # the provider's, unique per provider: the deduplication key
    event_type: str  # the provider's own name, e.g. ``payment_intent.succeeded``
    kind: ProviderEventKind
    # The provider object the event is about: PaymentIntent / order / refund / payout id.
    object_reference: str | None = None
    # Ours, when the provider echoes what we sent (metadata, reference_id, custom_id).
    tenant_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    payout_id: str | None = None
    # The provider's dispute, for dispute events (their object_reference is the payment's).
    dispute_reference: str | None = None
    amount: int | None = None  # minor units
    currency: str | None = None
    # Dispute reason, failure code: short text for operators, never card data.
    detail: str | None = None
    occurred_at: datetime | None = None
