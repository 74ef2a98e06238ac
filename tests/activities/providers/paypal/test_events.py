"""PayPalProvider.verify_webhook: PayPal's signature scheme checked by the fake's
``verify-webhook-signature`` over real HTTP, and each event type's ``ProviderEvent``."""

import json
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from activities.providers.paypal.adapter import PayPalProvider
from schemas.provider_events import ProviderEvent
from schemas.provider_events import WebhookSignatureError
from tests.support.fake_paypal import FakePayPal

WEBHOOK_ID = "WH-TEST"
CREATED = "2025-03-01T10:00:00.000Z"


def new_provider(paypal: FakePayPal, webhook_id: str | None = WEBHOOK_ID) -> PayPalProvider:
    return PayPalProvider(
        paypal.url,
        paypal.client_id,
        paypal.client_secret,
        webhook_id=webhook_id,
        return_url="https://shop.example/paypal/return",
        cancel_url="https://shop.example/paypal/cancel",
        timeout_seconds=5,
    )


@pytest.fixture(scope="module")
async def provider(paypal: FakePayPal) -> AsyncIterator[PayPalProvider]:
    async with new_provider(paypal) as client:
        yield client


def event(event_type: str, resource: dict) -> dict:
    return {
        "id": f"WH-{event_type.replace('.', '-')}-1",
        "event_version": "1.0",
        "create_time": CREATED,
        "resource_type": event_type.split(".")[1].lower(),
        "event_type": event_type,
        "summary": "a test event",
        "resource": resource,
    }


AMOUNT = {"currency_code": "USD", "value": "19.99"}
RELATED = {"related_ids": {"order_id": "ORDER1"}}


def payment(**fields) -> dict:
    base = {"id": "PAY1", "amount": AMOUNT, "custom_id": "ten_1", "supplementary_data": RELATED}
    return base | fields


ORDER = {
    "id": "ORDER1",
    "intent": "AUTHORIZE",
    "status": "APPROVED",
    "purchase_units": [{"reference_id": "pay_1", "custom_id": "ten_1", "amount": AMOUNT}],
}
AS_PAID = {"object_reference": "ORDER1", "tenant_id": "ten_1", "amount": 1999, "currency": "USD"}
DISPUTE = {
    "dispute_id": "PP-D-1",
    "reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
    "status": "OPEN",
    "dispute_amount": AMOUNT,
}

CASES = [
    (
        "CHECKOUT.ORDER.APPROVED",
        ORDER,
        "action_completed",
        AS_PAID | {"payment_id": "pay_1"},
    ),
    ("PAYMENT.AUTHORIZATION.CREATED", payment(status="CREATED"), "payment_authorized", AS_PAID),
    ("PAYMENT.AUTHORIZATION.VOIDED", payment(status="VOIDED"), "payment_canceled", AS_PAID),
    ("PAYMENT.CAPTURE.COMPLETED", payment(status="COMPLETED"), "payment_captured", AS_PAID),
    (
        "PAYMENT.CAPTURE.DENIED",
        payment(status="DECLINED", status_details={"reason": "DECLINED_BY_RISK_FRAUD_FILTERS"}),
        "payment_failed",
        AS_PAID | {"detail": "DECLINED_BY_RISK_FRAUD_FILTERS"},
    ),
    (
        "PAYMENT.CAPTURE.REFUNDED",
        {"id": "REF1", "status": "COMPLETED", "amount": AMOUNT, "custom_id": "re_1"},
        "refund_succeeded",
        {"object_reference": "REF1", "refund_id": "re_1", "amount": 1999, "currency": "USD"},
    ),
    (
        "CUSTOMER.DISPUTE.CREATED",
        DISPUTE,
        "dispute_opened",
        {"object_reference": "PP-D-1", "detail": DISPUTE["reason"], "amount": 1999},
    ),
    (
        "CUSTOMER.DISPUTE.RESOLVED",
        DISPUTE
        | {"status": "RESOLVED", "dispute_outcome": {"outcome_code": "RESOLVED_BUYER_FAVOUR"}},
        "dispute_closed",
        {"object_reference": "PP-D-1", "detail": "RESOLVED_BUYER_FAVOUR"},
    ),
    ("BILLING.SUBSCRIPTION.CREATED", {"id": "I-SUB1"}, "ignored", {"object_reference": "I-SUB1"}),
]


@pytest.mark.parametrize(
    ("event_type", "resource", "kind", "expected"), CASES, ids=[case[0] for case in CASES]
)
async def test_each_event_type_maps_to_its_provider_event(
    provider: PayPalProvider,
    paypal: FakePayPal,
    event_type: str,
    resource: dict,
    kind: str,
    expected: dict,
) -> None:
    headers, body = paypal.signed_webhook(event(event_type, resource), WEBHOOK_ID)
    verified = await provider.verify_webhook(headers, body)
    assert isinstance(verified, ProviderEvent)
    fields = verified.model_dump()
    assert (verified.provider, verified.event_type, verified.kind) == ("paypal", event_type, kind)
    assert verified.event_id == f"WH-{event_type.replace('.', '-')}-1"
    assert verified.occurred_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert {name: fields[name] for name in expected} == expected


async def test_header_names_are_case_insensitive(
    provider: PayPalProvider, paypal: FakePayPal
) -> None:
    headers, body = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID)
    lowered = {name.lower(): value for name, value in headers.items()}
    assert (await provider.verify_webhook(lowered, body)).kind == "payment_captured"


async def test_a_reserialised_body_is_rejected(
    provider: PayPalProvider, paypal: FakePayPal
) -> None:
    """The same event, parsed and dumped again: PayPal signed other bytes. (A tampered body:
    test_contract.py.)"""
    headers, body = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID)
    reserialised = json.dumps(json.loads(body), indent=2, sort_keys=True).encode()
    with pytest.raises(WebhookSignatureError):
        await provider.verify_webhook(headers, reserialised)


async def test_a_signature_for_another_webhook_is_rejected(
    provider: PayPalProvider, paypal: FakePayPal
) -> None:
    headers, body = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), "WH-2")
    with pytest.raises(WebhookSignatureError):
        await provider.verify_webhook(headers, body)


async def test_a_transmission_from_the_future_is_rejected(
    provider: PayPalProvider, paypal: FakePayPal
) -> None:
    """Outside the window either way (a stale one: test_contract.py)."""
    moment = datetime.now(UTC) + timedelta(seconds=301)
    headers, body = paypal.signed_webhook(
        event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID, transmission_time=moment
    )
    with pytest.raises(WebhookSignatureError, match="window"):
        await provider.verify_webhook(headers, body)


@pytest.mark.parametrize(
    "header",
    [
        "PAYPAL-AUTH-ALGO",
        "PAYPAL-CERT-URL",
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-TRANSMISSION-TIME",
    ],
)
async def test_a_missing_header_is_rejected(
    provider: PayPalProvider, paypal: FakePayPal, header: str
) -> None:
    headers, body = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID)
    del headers[header]
    with pytest.raises(WebhookSignatureError, match="missing"):
        await provider.verify_webhook(headers, body)


async def test_a_forged_certificate_url_is_rejected(
    provider: PayPalProvider, paypal: FakePayPal
) -> None:
    headers, body = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID)
    headers["PAYPAL-CERT-URL"] = "https://attacker.example/cert.pem"
    with pytest.raises(WebhookSignatureError):
        await provider.verify_webhook(headers, body)


async def test_an_unparsable_body_is_rejected(provider: PayPalProvider, paypal: FakePayPal) -> None:
    headers, _ = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID)
    for body in (b"not json", b"[1, 2]", b"\xff\xfe"):
        with pytest.raises(WebhookSignatureError):
            await provider.verify_webhook(headers, body)


async def test_without_a_configured_webhook_id_nothing_is_genuine(paypal: FakePayPal) -> None:
    headers, body = paypal.signed_webhook(event("PAYMENT.CAPTURE.COMPLETED", payment()), WEBHOOK_ID)
    async with new_provider(paypal, webhook_id=None) as unconfigured:
        with pytest.raises(WebhookSignatureError, match="webhook id"):
            await unconfigured.verify_webhook(headers, body)
