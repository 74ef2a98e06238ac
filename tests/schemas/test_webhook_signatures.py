"""Standard Webhooks signatures: what verifies and what is refused."""

import time

import pytest

from schemas.provider_events import WebhookSignatureError
from schemas.webhook_signatures import TOLERANCE_SECONDS
from schemas.webhook_signatures import signature_headers
from schemas.webhook_signatures import verify

SECRET = "whsec_sandbox_tests"
BODY = b'{"id": "evt_1", "type": "refund.failed"}'


def test_a_signed_fresh_delivery_verifies_also_among_rotated_signatures() -> None:
    headers = signature_headers(SECRET, "evt_1", BODY)
    verify(SECRET, headers, BODY)
    old = signature_headers("whsec_old", "evt_1", BODY, int(headers["webhook-timestamp"]))
    both = headers | {
        "webhook-signature": f"{old['webhook-signature']} {headers['webhook-signature']}"
    }
    verify(SECRET, {key.upper(): value for key, value in both.items()}, BODY)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # another body
        lambda h, b: (h | {"webhook-id": "evt_2"}, b),  # another message
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-timestamp"}, b),
        lambda h, b: (signature_headers("whsec_other", "evt_1", b), b),
        lambda h, b: (
            signature_headers(SECRET, "evt_1", b, int(time.time()) - 2 * TOLERANCE_SECONDS),
            b,
        ),
        lambda h, b: (
            signature_headers(SECRET, "evt_1", b, int(time.time()) + 2 * TOLERANCE_SECONDS),
            b,
        ),
    ],
    ids=["body", "id", "no-signature", "no-timestamp", "secret", "stale", "future"],
)
def test_anything_else_is_refused(tamper) -> None:
    headers, body = tamper(signature_headers(SECRET, "evt_1", BODY), BODY)
    with pytest.raises(WebhookSignatureError):
        verify(SECRET, headers, body)
