"""Standard Webhooks signatures (standardwebhooks.com), which the sandbox gateway signs its
events with: ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
= ``v1,`` + base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``, several separated by spaces
while a secret is rotated. A delivery older or newer than the tolerance is refused, so a
captured one cannot be replayed later.
"""

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from schemas.provider_events import WebhookSignatureError

TOLERANCE_SECONDS = 300


def signature_headers(
    secret: str, message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of a signed delivery of ``body``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{_signature(secret, message_id, timestamp, body)}",
    }


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """Raise ``WebhookSignatureError`` unless the delivery is signed with ``secret`` and
    fresh."""
    lower = {key.lower(): value for key, value in headers.items()}
    message_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp", "")
    if not message_id or not stamp.isdigit():
        raise WebhookSignatureError("webhook: no webhook-id or webhook-timestamp")
    timestamp = int(stamp)
    if abs(time.time() - timestamp) > TOLERANCE_SECONDS:
        raise WebhookSignatureError("webhook: timestamp outside the tolerance")
    expected = _signature(secret, message_id, timestamp, body)
    offered = [
        signature.removeprefix("v1,")
        for signature in lower.get("webhook-signature", "").split()
        if signature.startswith("v1,")
    ]
    if not any(hmac.compare_digest(expected, signature) for signature in offered):
        raise WebhookSignatureError("webhook: no signature matches")


def _signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()
