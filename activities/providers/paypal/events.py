"""PayPal webhooks: a delivery checked by PayPal's own API, and its event → ``ProviderEvent``.

PayPal signs ``<transmission id>|<transmission time>|<webhook id>|<crc32 of the body>`` and
checks it in ``POST /v1/notifications/verify-webhook-signature``, which recomputes the CRC32
from the ``webhook_event`` it is given. A re-serialised event (other key order, spacing or
escapes) does not match, a documented pitfall of PayPal's SDKs (PayPal-PHP-SDK #807 added a
raw-body option for it), so the request is built around the raw body, spliced in byte for
byte rather than parsed and dumped again.

Event                           kind                object_reference
==============================  ==================  ===========================
CHECKOUT.ORDER.APPROVED         action_completed    order id
PAYMENT.AUTHORIZATION.CREATED   payment_authorized  order id (related_ids)
PAYMENT.AUTHORIZATION.VOIDED    payment_canceled    order id (related_ids)
PAYMENT.CAPTURE.COMPLETED       payment_captured    order id (related_ids)
PAYMENT.CAPTURE.DENIED          payment_failed      order id (related_ids)
PAYMENT.CAPTURE.REFUNDED        refund_succeeded    refund id (ours: custom_id)
CUSTOMER.DISPUTE.CREATED        dispute_opened      dispute id
CUSTOMER.DISPUTE.UPDATED        dispute_updated     dispute id
CUSTOMER.DISPUTE.RESOLVED       dispute_closed      dispute id
anything else                   ignored             resource id
"""

import json
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from activities.providers.base import url_path
from activities.providers.paypal.http import PayPalHttp
from activities.providers.paypal.http import minor_units
from schemas.provider_events import ProviderEvent
from schemas.provider_events import ProviderEventKind
from schemas.provider_events import WebhookSignatureError

# PayPal retries deliveries for days, but each delivery is signed anew: an older
# transmission is a replay.
REPLAY_WINDOW = timedelta(seconds=300)

_SIGNATURE_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}

KINDS: dict[str, ProviderEventKind] = {
    "CHECKOUT.ORDER.APPROVED": "action_completed",
    "PAYMENT.AUTHORIZATION.CREATED": "payment_authorized",
    "PAYMENT.AUTHORIZATION.VOIDED": "payment_canceled",
    "PAYMENT.CAPTURE.COMPLETED": "payment_captured",
    "PAYMENT.CAPTURE.DENIED": "payment_failed",
    "PAYMENT.CAPTURE.REFUNDED": "refund_succeeded",
    "CUSTOMER.DISPUTE.CREATED": "dispute_opened",
    "CUSTOMER.DISPUTE.UPDATED": "dispute_updated",
    "CUSTOMER.DISPUTE.RESOLVED": "dispute_closed",
}


async def verified_event(
    http: PayPalHttp, headers: Mapping[str, str], body: bytes, webhook_id: str | None
) -> ProviderEvent:
    """The event of a genuine, fresh delivery, checked by PayPal (it holds the certificates).
    An unreachable PayPal raises ``Unavailable``, not ``WebhookSignatureError``, so the
    delivery is retried."""
    request = verification_request(headers, body, webhook_id, datetime.now(UTC))
    url = url_path("v1", "notifications", "verify-webhook-signature")
    answer = await http.post("verify webhook", url, content=request, mutating=False)
    if answer.get("verification_status") != "SUCCESS":
        raise WebhookSignatureError("paypal webhook: signature not verified by PayPal")
    return event_of(parsed_event(body))


def parsed_event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise WebhookSignatureError("paypal webhook: the body is not JSON") from e
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookSignatureError("paypal webhook: the body is not an event")
    return event


def verification_request(
    headers: Mapping[str, str], body: bytes, webhook_id: str | None, now: datetime
) -> bytes:
    """The body of ``verify-webhook-signature`` for a fresh delivery, with ``body`` spliced in
    unchanged as ``webhook_event``; ``WebhookSignatureError`` if it cannot be genuine."""
    if not webhook_id:
        raise WebhookSignatureError("paypal webhook: no webhook id configured")
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [header for header in _SIGNATURE_HEADERS.values() if not lowered.get(header)]
    if missing:
        raise WebhookSignatureError(f"paypal webhook: missing {', '.join(missing)}")
    fields = {field: lowered[header] for field, header in _SIGNATURE_HEADERS.items()}
    _check_fresh(fields["transmission_time"], now)
    parsed_event(body)
    fields["webhook_id"] = webhook_id
    # JSON of the fields without its closing brace, then the raw event as the last member.
    head = json.dumps(fields, separators=(",", ":"))[:-1]
    return head.encode() + b',"webhook_event":' + body + b"}"


def _check_fresh(transmission_time: str, now: datetime) -> None:
    try:
        sent = datetime.fromisoformat(transmission_time)
    except ValueError as e:
        raise WebhookSignatureError("paypal webhook: unreadable transmission time") from e
    if sent.tzinfo is None:
        raise WebhookSignatureError("paypal webhook: transmission time without a zone")
    if abs(now - sent) > REPLAY_WINDOW:
        raise WebhookSignatureError("paypal webhook: transmission time outside the window")


def event_of(event: dict[str, Any]) -> ProviderEvent:
    """The ``ProviderEvent`` of a verified PayPal event."""
    event_type = str(event.get("event_type") or "")
    kind = KINDS.get(event_type, "ignored")
    resource = event.get("resource") or {}
    fields: dict[str, Any] = {"object_reference": resource.get("id")}
    if event_type == "CHECKOUT.ORDER.APPROVED":
        fields |= _order_fields(resource)
    elif event_type.startswith(("PAYMENT.AUTHORIZATION.", "PAYMENT.CAPTURE.")):
        fields |= _payment_fields(resource, refund=event_type == "PAYMENT.CAPTURE.REFUNDED")
    elif event_type.startswith("CUSTOMER.DISPUTE."):
        fields |= _dispute_fields(resource)
    return ProviderEvent(
        provider="paypal",
        event_id=event["id"],
        event_type=event_type,
        kind=kind,
        occurred_at=_time(event.get("create_time")),
        **fields,
    )


def _order_fields(order: dict[str, Any]) -> dict[str, Any]:
    unit = (order.get("purchase_units") or [{}])[0]
    return {
        "payment_id": unit.get("reference_id"),
        "tenant_id": unit.get("custom_id") or None,
    } | _amount_fields(unit.get("amount"))


def _payment_fields(resource: dict[str, Any], *, refund: bool) -> dict[str, Any]:
    """An authorization, capture or refund: ``custom_id`` echoes the purchase unit's (our
    tenant), or for a refund our refund id; the order is in ``supplementary_data``."""
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    custom_id = resource.get("custom_id") or None
    if refund:
        fields = {"refund_id": custom_id}
    else:
        fields = {"tenant_id": custom_id, "object_reference": related.get("order_id")}
    reason = (resource.get("status_details") or {}).get("reason")
    return fields | {"detail": reason} | _amount_fields(resource.get("amount"))


def _dispute_fields(dispute: dict[str, Any]) -> dict[str, Any]:
    """A dispute names the disputed capture in ``disputed_transactions``, where
    ``invoice_number`` and ``custom`` echo the purchase unit's ``invoice_id`` (our payment
    id) and ``custom_id`` (our tenant)."""
    outcome = (dispute.get("dispute_outcome") or {}).get("outcome_code")
    disputed = (dispute.get("disputed_transactions") or [{}])[0]
    reference = dispute.get("dispute_id") or dispute.get("id")
    return {
        "object_reference": reference,
        "dispute_reference": reference,
        "payment_id": disputed.get("invoice_number") or None,
        "tenant_id": disputed.get("custom") or None,
        "detail": outcome or dispute.get("reason"),
    } | _amount_fields(dispute.get("dispute_amount"))


def _amount_fields(amount: dict[str, Any] | None) -> dict[str, Any]:
    if not amount or "value" not in amount or "currency_code" not in amount:
        return {}
    return {"amount": minor_units(amount), "currency": amount["currency_code"]}


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
