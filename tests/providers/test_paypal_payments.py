"""Payments through PayPal (the fake PayPal server) with the same REST calls: the buyer's
approval is the saga's ``requires_action``, resumed by PayPal's signed webhook or ``/confirm``."""

import uuid
from datetime import UTC
from datetime import datetime

import httpx

from tests.providers.conftest import PAYPAL_WEBHOOK_ID
from tests.providers.conftest import pay
from tests.providers.conftest import refund_payment
from tests.providers.conftest import wait_for_status


async def test_approval_webhook_resumes_an_automatic_capture(api, webhooks, paypal):
    created = await pay(api, payment_method="pm_paypal", amount=2550)
    payment = created.json()
    assert (payment["status"], payment["provider"]) == ("requires_action", "paypal"), created.text
    order_id = payment["provider_reference"]
    assert order_id in payment["next_action_url"]

    await approve(paypal, order_id)
    delivered = await deliver(webhooks, paypal, "CHECKOUT.ORDER.APPROVED", order(payment))

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "signaled"
    state = await wait_for_status(api, payment["payment_id"], "succeeded", "declined", "failed")
    assert (state["status"], state["captured_amount"]) == ("succeeded", 2550)
    assert await applied(paypal, payment["payment_id"]) == 1  # one order for the payment


async def test_manual_authorization_partial_capture_then_refund(api, paypal):
    payment = (await pay(api, payment_method="pm_paypal", capture_method="manual")).json()
    await approve(paypal, payment["provider_reference"])

    confirmed = await api.post(f"/v1/payments/{payment['payment_id']}/confirm", json={})
    assert confirmed.status_code in (200, 202), confirmed.text
    await wait_for_status(api, payment["payment_id"], "requires_capture")
    captured = await api.post(
        f"/v1/payments/{payment['payment_id']}/capture", json={"amount": 1500}
    )
    assert (captured.json()["status"], captured.json()["captured_amount"]) == ("succeeded", 1500)

    refund = await refund_payment(api, payment["payment_id"], 500)
    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded"
    held = await paypal_order(paypal, payment["provider_reference"])
    unit = held["purchase_units"][0]["payments"]
    assert [c["amount"]["value"] for c in unit["captures"]] == ["15.00"]
    assert [r["amount"]["value"] for r in unit["refunds"]] == ["5.00"]


async def test_void_after_approval(api, paypal):
    payment = (await pay(api, payment_method="pm_paypal", capture_method="manual")).json()
    await approve(paypal, payment["provider_reference"])
    await api.post(f"/v1/payments/{payment['payment_id']}/confirm", json={})
    await wait_for_status(api, payment["payment_id"], "requires_capture")

    canceled = await api.post(f"/v1/payments/{payment['payment_id']}/cancel", json={})

    assert canceled.json()["status"] == "canceled", canceled.text
    held = await paypal_order(paypal, payment["provider_reference"])
    authorization = held["purchase_units"][0]["payments"]["authorizations"][0]
    assert authorization["status"] == "VOIDED"


async def test_a_declined_funding_source_declines_the_payment(api, webhooks, paypal):
    payment = (await pay(api, payment_method="pm_paypal")).json()
    await approve(paypal, payment["provider_reference"], funding="declined")

    await deliver(webhooks, paypal, "CHECKOUT.ORDER.APPROVED", order(payment))

    state = await wait_for_status(api, payment["payment_id"], "declined", "succeeded")
    assert (state["status"], state["failure_code"]) == ("declined", "INSTRUMENT_DECLINED")


async def test_forged_and_stale_paypal_webhooks_are_refused(api, webhooks, paypal):
    payment = (await pay(api, payment_method="pm_paypal")).json()
    event = envelope("CHECKOUT.ORDER.APPROVED", order(payment))

    headers, body = paypal.signed_webhook(event, PAYPAL_WEBHOOK_ID)
    forged = await webhooks.post(
        "/v1/webhooks/paypal", content=body.replace(b"APPROVED", b"COMPLETED"), headers=headers
    )
    stale_headers, stale_body = paypal.signed_webhook(
        event, PAYPAL_WEBHOOK_ID, transmission_time=datetime(2026, 1, 1, tzinfo=UTC)
    )
    stale = await webhooks.post("/v1/webhooks/paypal", content=stale_body, headers=stale_headers)

    assert (forged.status_code, stale.status_code) == (400, 400)
    state = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert state["status"] == "requires_action"  # nothing acted on
    await api.post(f"/v1/payments/{payment['payment_id']}/cancel", json={})


def order(payment: dict) -> dict:
    amount = {"currency_code": payment["currency"], "value": f"{payment['amount'] / 100:.2f}"}
    unit = {"reference_id": payment["payment_id"], "custom_id": payment["tenant_id"]}
    return {
        "id": payment["provider_reference"],
        "intent": "CAPTURE" if payment["capture_method"] == "automatic" else "AUTHORIZE",
        "status": "APPROVED",
        "purchase_units": [unit | {"amount": amount}],
    }


def envelope(event_type: str, resource: dict) -> dict:
    return {
        "id": f"WH-{uuid.uuid4().hex[:20]}",
        "event_version": "1.0",
        "create_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resource_type": "checkout-order",
        "event_type": event_type,
        "summary": event_type,
        "resource": resource,
    }


async def deliver(webhooks, paypal, event_type: str, resource: dict) -> httpx.Response:
    headers, body = paypal.signed_webhook(envelope(event_type, resource), PAYPAL_WEBHOOK_ID)
    return await webhooks.post("/v1/webhooks/paypal", content=body, headers=headers)


async def approve(paypal, order_id: str, funding: str = "ok") -> None:
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        response = await http.post(f"/_fake/orders/{order_id}/approve", json={"funding": funding})
        response.raise_for_status()


async def paypal_order(paypal, order_id: str) -> dict:
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        token = await http.post(
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(paypal.client_id, paypal.client_secret),
        )
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        response = await http.get(f"/v2/checkout/orders/{order_id}", headers=headers)
        response.raise_for_status()
        return response.json()


async def applied(paypal, payment_id: str) -> int:
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        stats = (await http.get("/_fake/stats")).json()
    return stats["orders_by_reference_id"].get(payment_id, 0)
