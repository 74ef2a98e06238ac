"""StripeProvider.verify_webhook: Stripe's signature scheme (signed with the SDK's own helper),
freshness both ways, and the mapping of each event type to a ProviderEvent."""

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from stripe import WebhookSignature

from activities.providers.stripe.adapter import StripeProvider
from schemas.provider_events import ProviderEvent
from schemas.provider_events import WebhookSignatureError

SECRET = "whsec_test_paysaga"
CREATED = 1_760_000_000


@pytest.fixture
async def provider() -> AsyncIterator[StripeProvider]:
    # No request is sent: verification is local.
    stripe = StripeProvider("sk_test_x", api_base="http://127.0.0.1:9", webhook_secret=SECRET)
    yield stripe
    await stripe.aclose()


def event(event_type: str, obj: dict[str, Any]) -> bytes:
    body = {
        "id": "evt_1",
        "object": "event",
        "type": event_type,
        "created": CREATED,
        "data": {"object": obj},
    }
    return json.dumps(body).encode()


def signed(body: bytes, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    header = WebhookSignature.generate_signature_header(body.decode(), secret, timestamp)
    return {"Stripe-Signature": header}


OURS = {"payment_id": "pay_1", "tenant_id": "tenant_a"}
CARD = {"brand": "visa", "last4": "4242", "fingerprint": "fp_secret"}
INTENT = {
    "id": "pi_1",
    "object": "payment_intent",
    "amount": 2000,
    "amount_capturable": 2000,
    "amount_received": 0,
    "currency": "usd",
    "metadata": OURS,
    "payment_method_details": {"card": CARD},
}
REFUND = {
    "id": "re_1",
    "object": "refund",
    "amount": 300,
    "currency": "eur",
    "payment_intent": "pi_1",
    "metadata": {"refund_id": "re_ours", "payment_id": "pay_1", "tenant_id": "tenant_a"},
}
DISPUTE = {
    "id": "dp_1",
    "object": "dispute",
    "amount": 2000,
    "currency": "usd",
    "charge": "ch_1",
    "payment_intent": "pi_1",
    "reason": "fraudulent",
    "status": "lost",
    "metadata": {},
}
PAYOUT = {
    "id": "po_1",
    "object": "payout",
    "amount": 600,
    "currency": "usd",
    "metadata": {"payout_id": "po_ours"},
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "payment_intent.amount_capturable_updated",
        INTENT,
        {"kind": "payment_authorized", "object_reference": "pi_1", "amount": 2000} | OURS,
    ),
    (
        "payment_intent.succeeded",
        INTENT | {"amount_received": 1500},
        {"kind": "payment_captured", "object_reference": "pi_1", "amount": 1500} | OURS,
    ),
    (
        "payment_intent.payment_failed",
        INTENT | {"last_payment_error": {"code": "card_declined", "decline_code": "stolen_card"}},
        {"kind": "payment_failed", "detail": "stolen_card", "amount": 2000} | OURS,
    ),
    ("payment_intent.canceled", INTENT, {"kind": "payment_canceled"} | OURS),
    (
        "refund.created",
        REFUND | {"status": "succeeded"},
        {"kind": "refund_succeeded", "object_reference": "re_1", "refund_id": "re_ours"},
    ),
    (
        "refund.updated",
        REFUND | {"status": "failed", "failure_reason": "expired_or_canceled_card"},
        {"kind": "refund_failed", "detail": "expired_or_canceled_card", "currency": "EUR"},
    ),
    ("charge.refund.updated", REFUND | {"status": "succeeded"}, {"kind": "refund_succeeded"}),
    ("refund.updated", REFUND | {"status": "pending"}, {"kind": "ignored"}),
    (
        "charge.dispute.created",
        DISPUTE,
        {"kind": "dispute_opened", "object_reference": "pi_1", "detail": "fraudulent"},
    ),
    ("charge.dispute.closed", DISPUTE, {"kind": "dispute_closed", "detail": "lost"}),
    (
        "payout.paid",
        PAYOUT | {"status": "paid"},
        {"kind": "payout_paid", "object_reference": "po_1", "payout_id": "po_ours"},
    ),
    (
        "payout.failed",
        PAYOUT | {"status": "failed", "failure_code": "account_closed"},
        {"kind": "payout_failed", "detail": "account_closed", "amount": 600},
    ),
    ("customer.created", {"id": "cus_1", "object": "customer"}, {"kind": "ignored"}),
]


@pytest.mark.parametrize(
    ("event_type", "obj", "expected"), CASES, ids=[f"{c[0]}-{c[2]['kind']}" for c in CASES]
)
async def test_genuine_events_map_to_provider_events(
    provider: StripeProvider, event_type: str, obj: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = event(event_type, obj)
    verified = await provider.verify_webhook(signed(body), body)
    assert isinstance(verified, ProviderEvent)
    assert (verified.provider, verified.event_id, verified.event_type) == (
        "stripe",
        "evt_1",
        event_type,
    )
    assert verified.occurred_at == datetime.fromtimestamp(CREATED, UTC)
    assert verified.model_dump(include=set(expected)) == expected
    assert "4242" not in verified.model_dump_json()  # never card data


async def test_header_lookup_ignores_case(provider: StripeProvider) -> None:
    body = event("payment_intent.canceled", INTENT)
    headers = {"stripe-signature": signed(body)["Stripe-Signature"]}
    assert (await provider.verify_webhook(headers, body)).kind == "payment_canceled"


# A tampered body and a stale signature: test_contract.py.
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda body: (signed(body, "whsec_other"), body), id="wrong secret"),
        pytest.param(lambda body: (signed(body, at=time.time() + 600), body), id="future"),
        pytest.param(lambda body: ({}, body), id="missing header"),
        pytest.param(lambda body: ({"Stripe-Signature": "garbage"}, body), id="bad header"),
        pytest.param(lambda body: (signed(b"not json"), b"not json"), id="unparsable body"),
    ],
)
async def test_forged_or_stale_requests_are_rejected(provider: StripeProvider, forge) -> None:
    headers, body = forge(event("payment_intent.succeeded", INTENT))
    with pytest.raises(WebhookSignatureError):
        await provider.verify_webhook(headers, body)


async def test_no_secret_configured_rejects_everything() -> None:
    body = event("payment_intent.succeeded", INTENT)
    async with StripeProvider("sk_test_x", api_base="http://127.0.0.1:9") as provider:
        with pytest.raises(WebhookSignatureError):
            await provider.verify_webhook(signed(body), body)


async def test_connected_accounts_events_are_signed_with_the_connect_endpoints_secret() -> None:
    payout = {"id": "po_1", "object": "payout", "amount": 600, "currency": "usd"}
    payout |= {"status": "failed", "failure_code": "account_closed", "metadata": {}}
    body = event("payout.failed", payout)
    connect_secret = "whsec_test_paysaga_connect"
    async with StripeProvider(
        "sk_test_x",
        api_base="http://127.0.0.1:9",
        webhook_secret=SECRET,
        connect_webhook_secret=connect_secret,
    ) as provider:
        for secret in (SECRET, connect_secret):
            verified = await provider.verify_webhook(signed(body, secret), body)
            assert (verified.kind, verified.detail) == ("payout_failed", "account_closed")
        with pytest.raises(WebhookSignatureError):
            await provider.verify_webhook(signed(body, "whsec_other"), body)
