"""Webhooks of the sandbox gateway: what it reports after it answered, which today is a
refund or payout failed late (``refund.failed``, ``payout.failed``) and a payout's arrival
(``payout.paid``). Signed per Standard Webhooks with the secret the gateway and paysaga share
(``PAYSAGA_SANDBOX_WEBHOOK_SECRET``); without one every delivery is refused (400).

The event is ``{id, type, created, data: {object}}``; the object is the gateway's refund or
payout, whose ``reference`` is our refund or payout id.
"""

import json
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any

from schemas.provider_events import ProviderEvent
from schemas.provider_events import ProviderEventKind
from schemas.provider_events import WebhookSignatureError
from schemas.webhook_signatures import verify

_KINDS: dict[str, ProviderEventKind] = {
    "refund.failed": "refund_failed",
    "payout.failed": "payout_failed",
    "payout.paid": "payout_paid",
}


def verified_event(
    headers: Mapping[str, str], body: bytes, webhook_secret: str | None = None
) -> ProviderEvent:
    if not webhook_secret:
        raise WebhookSignatureError("sandbox webhooks: no webhook secret is configured")
    verify(webhook_secret, headers, body)
    try:
        return provider_event(json.loads(body))
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise WebhookSignatureError(f"sandbox webhook: unreadable ({type(e).__name__})") from e


def provider_event(event: dict[str, Any]) -> ProviderEvent:
    event_type = str(event["type"])
    obj = event["data"]["object"]
    kind = _KINDS.get(event_type, "ignored")
    ours = "refund_id" if obj.get("object") == "refund" else "payout_id"
    created = event.get("created")
    return ProviderEvent(
        provider="sandbox",
        event_id=str(event["id"]),
        event_type=event_type,
        kind=kind,
        object_reference=obj.get("id"),
        amount=obj.get("amount") if isinstance(obj.get("amount"), int) else None,
        currency=obj.get("currency"),
        detail=obj.get("failure_code"),
        occurred_at=datetime.fromtimestamp(created, UTC) if isinstance(created, int) else None,
        **({ours: obj["reference"]} if obj.get("reference") else {}),
    )
