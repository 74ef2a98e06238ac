"""Stripe webhooks: the signature check of a delivery, and its event (JSON) → ``ProviderEvent``.

A delivery is genuine when its ``Stripe-Signature`` (HMAC-SHA256 of ``{t}.{body}`` with the
webhook secret) matches the raw body and ``t`` is within 300 s either way: the SDK's
``construct_event`` checks the signature but rejects only old timestamps.

=======================================================  ==================================
Stripe event type                                        ``ProviderEvent.kind``
=======================================================  ==================================
``payment_intent.amount_capturable_updated``             ``payment_authorized``
``payment_intent.succeeded``                             ``payment_captured``
``payment_intent.payment_failed``                        ``payment_failed``
``payment_intent.canceled``                              ``payment_canceled``
``refund.created/updated/failed``,                       ``refund_succeeded`` / ``refund_failed``
``charge.refund.updated``                                (by the refund's status; else ignored)
``charge.dispute.created``                               ``dispute_opened``
``charge.dispute.updated``, ``.funds_withdrawn``,        ``dispute_updated``
``charge.dispute.funds_reinstated``
``charge.dispute.closed``                                ``dispute_closed``
``payout.paid`` / ``payout.failed``                      ``payout_paid`` / ``payout_failed``
``account.updated`` (a connected account's)              ``account_updated``
anything else                                            ``ignored``
=======================================================  ==================================

Only named fields are copied: ids, our metadata, amounts and short codes. A PaymentIntent or
charge carries card details (brand, last4, fingerprint) that must never reach an event.
"""

import json
import time
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any

import stripe

from activities.providers.stripe.currencies import STRIPE_CURRENCIES
from schemas.provider_events import ProviderEvent
from schemas.provider_events import ProviderEventKind
from schemas.provider_events import WebhookSignatureError

WEBHOOK_TOLERANCE_SECONDS = 300

_PAYMENT_INTENT_KINDS: dict[str, ProviderEventKind] = {
    "payment_intent.amount_capturable_updated": "payment_authorized",
    "payment_intent.succeeded": "payment_captured",
    "payment_intent.payment_failed": "payment_failed",
    "payment_intent.canceled": "payment_canceled",
}
_REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
_REFUND_KINDS: dict[str, ProviderEventKind] = {
    "succeeded": "refund_succeeded",
    "failed": "refund_failed",
}
_DISPUTE_KINDS: dict[str, ProviderEventKind] = {
    "charge.dispute.created": "dispute_opened",
    "charge.dispute.updated": "dispute_updated",
    "charge.dispute.funds_withdrawn": "dispute_updated",
    "charge.dispute.funds_reinstated": "dispute_updated",
    "charge.dispute.closed": "dispute_closed",
}
_PAYOUT_KINDS: dict[str, ProviderEventKind] = {
    "payout.paid": "payout_paid",
    "payout.failed": "payout_failed",
}


def verified_event(
    headers: Mapping[str, str], body: bytes, webhook_secret: str | None
) -> ProviderEvent:
    """The event of a genuine, fresh delivery; ``WebhookSignatureError`` otherwise."""
    if not webhook_secret:
        raise WebhookSignatureError("stripe webhooks: no webhook secret is configured")
    header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
    try:
        stripe.Webhook.construct_event(
            body, header, webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
        )
        if _signed_at(header or "") > time.time() + WEBHOOK_TOLERANCE_SECONDS:
            raise WebhookSignatureError("stripe webhook: timestamp is in the future")
        return provider_event(json.loads(body))
    except WebhookSignatureError:
        raise
    except stripe.SignatureVerificationError as e:
        raise WebhookSignatureError(f"stripe webhook: {e.user_message}") from e
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WebhookSignatureError(f"stripe webhook: unreadable ({type(e).__name__})") from e


def _signed_at(header: str) -> int:
    """The ``t=`` of a ``Stripe-Signature`` header the SDK has already accepted."""
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "t":
            return int(value)
    raise ValueError("no timestamp")


def provider_event(event: dict[str, Any]) -> ProviderEvent:
    """The ``ProviderEvent`` of a Stripe event; ``KeyError``/``TypeError`` if it has no id,
    type or object."""
    event_type = str(event["type"])
    obj = event["data"]["object"]
    fields: dict[str, Any] = {
        "provider": "stripe",
        "event_id": str(event["id"]),
        "event_type": event_type,
        "object_reference": obj.get("id"),
        "occurred_at": _moment(event.get("created")),
        **_ours(obj.get("metadata")),
    }
    if event_type in _PAYMENT_INTENT_KINDS:
        fields |= _payment_intent(event_type, obj)
    elif event_type in _REFUND_EVENTS and obj.get("status") in _REFUND_KINDS:
        fields |= _amount(obj, obj.get("amount"))
        fields |= {"kind": _REFUND_KINDS[obj["status"]], "detail": obj.get("failure_reason")}
    elif event_type in _DISPUTE_KINDS:
        fields |= _amount(obj, obj.get("amount"))
        # The saga knows the PaymentIntent, not the dispute: point at what it knows.
        reference = obj.get("payment_intent") or obj.get("charge") or obj.get("id")
        detail = obj.get("reason") if event_type.endswith("created") else obj.get("status")
        fields |= {"kind": _DISPUTE_KINDS[event_type], "object_reference": reference}
        fields |= {"detail": detail, "dispute_reference": obj.get("id")}
    elif event_type == "account.updated":
        # A Connect event names the connected account in ``account``; the object is it.
        reference = event.get("account") or obj.get("id")
        fields |= {"kind": "account_updated", "object_reference": reference}
    elif event_type in _PAYOUT_KINDS:
        fields |= _amount(obj, obj.get("amount"))
        fields |= {"kind": _PAYOUT_KINDS[event_type], "detail": obj.get("failure_code")}
    else:
        fields["kind"] = "ignored"
    return ProviderEvent(**fields)


def _payment_intent(event_type: str, intent: dict[str, Any]) -> dict[str, Any]:
    if event_type == "payment_intent.amount_capturable_updated":
        amount = intent.get("amount_capturable", intent.get("amount"))
    elif event_type == "payment_intent.succeeded":
        amount = intent.get("amount_received", intent.get("amount"))
    else:
        amount = intent.get("amount")
    error = intent.get("last_payment_error") or {}
    detail = error.get("decline_code") or error.get("code")
    return {"kind": _PAYMENT_INTENT_KINDS[event_type], "detail": detail} | _amount(intent, amount)


def _amount(obj: dict[str, Any], amount: Any) -> dict[str, Any]:
    """The amount in ISO minor units (Stripe's own decimals differ for a few currencies)."""
    currency = obj.get("currency")
    known = isinstance(amount, int) and isinstance(currency, str)
    return {
        "amount": STRIPE_CURRENCIES.from_provider(amount, currency) if known else None,
        "currency": currency.upper() if isinstance(currency, str) else None,
    }


def _ours(metadata: Any) -> dict[str, str]:
    """Our ids from the metadata we sent (``payment_id``, ``tenant_id``, …), if any."""
    if not isinstance(metadata, dict):
        return {}
    keys = ("payment_id", "tenant_id", "refund_id", "payout_id")
    return {key: str(metadata[key]) for key in keys if metadata.get(key)}


def _moment(created: Any) -> datetime | None:
    return datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None
