"""The gateway's webhooks: an event about one of its objects, signed per Standard Webhooks
(``schemas.webhook_signatures``) and POSTed to the one endpoint it was started with
(``--webhook-url``, secret ``PAYSAGA_SANDBOX_WEBHOOK_SECRET``). One attempt, no redirects:
a test (or an operator) that needs it again calls the helper again."""

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from schemas.webhook_signatures import signature_headers
from workers.sandbox_gateway.rows import new_id

log = logging.getLogger("sandbox_gateway")


@dataclass(frozen=True)
class Webhooks:
    url: str
    secret: str

    async def send(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Deliver the event; answers the event and the endpoint's status code."""
        event = {
            "id": new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()),
            "data": {"object": obj},
        }
        body = json.dumps(event).encode()
        headers = signature_headers(self.secret, event["id"], body)
        headers["content-type"] = "application/json"
        async with httpx.AsyncClient(timeout=30, follow_redirects=False) as client:
            response = await client.post(self.url, content=body, headers=headers)
        log.info("webhook %s %s: %s", event["id"], event_type, response.status_code)
        return {"event": event, "delivered": response.status_code}
