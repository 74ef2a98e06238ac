"""Payments through Stripe (localstripe) with the same REST calls as the sandbox, and Stripe's
webhooks in: 3-D Secure finished by a webhook, tampered / stale / replayed / late events."""

import time
import uuid

from tests.providers.conftest import pay
from tests.providers.conftest import refund_payment
from tests.providers.conftest import stripe_delivery
from tests.providers.conftest import stripe_event
from tests.providers.conftest import stripe_object
from tests.providers.conftest import wait_for_status
from tests.support.localstripe import CARD_CHARGE_DECLINED
from tests.support.localstripe import CARD_THREE_D_SECURE
from tests.support.localstripe import authenticate
from tests.support.localstripe import card_payment_method


async def test_automatic_capture_routed_to_stripe_by_currency(api, localstripe):
    response = await pay(api, currency="EUR", payment_method="pm_card_visa")

    assert response.status_code == 201, response.text
    state = response.json()
    assert (state["status"], state["provider"], state["captured_amount"]) == (
        "succeeded",
        "stripe",
        1999,
    )
    assert [a["provider"] for a in state["provider_attempts"]] == ["stripe"]
    intent = await intent_of(localstripe, state)
    assert intent["status"] == "succeeded"
    assert intent["metadata"]["payment_id"] == state["payment_id"]


async def test_manual_authorization_then_partial_capture(api, localstripe):
    created = await pay(
        api, provider="stripe", payment_method="pm_card_visa", capture_method="manual"
    )
    assert created.status_code == 201, created.text
    payment = created.json()
    assert payment["status"] == "requires_capture"

    captured = await api.post(
        f"/v1/payments/{payment['payment_id']}/capture", json={"amount": 1200}
    )

    assert captured.status_code == 200, captured.text
    assert (captured.json()["status"], captured.json()["captured_amount"]) == ("succeeded", 1200)
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert intent["status"] == "succeeded"


async def test_void_cancels_the_payment_intent(api, localstripe):
    payment = (
        await pay(api, provider="stripe", payment_method="pm_card_visa", capture_method="manual")
    ).json()

    canceled = await api.post(f"/v1/payments/{payment['payment_id']}/cancel", json={})

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert intent["status"] == "canceled"


async def test_a_declined_card_declines_the_payment(api, localstripe):
    method = await card_payment_method(localstripe, CARD_CHARGE_DECLINED)

    response = await pay(api, provider="stripe", payment_method=method)

    assert response.status_code == 201, response.text
    state = response.json()
    assert (state["status"], state["failure_code"]) == ("declined", "card_declined")
    assert state["provider_attempts"][0]["outcome"] == "declined"


async def test_refund_through_the_api(api, localstripe):
    payment = (await pay(api, currency="EUR", payment_method="pm_card_visa", amount=5000)).json()

    refund = await refund_payment(api, payment["payment_id"], 1500)

    assert refund.status_code == 201, refund.text
    assert refund.json()["status"] == "succeeded"
    refunds = await stripe_object(
        localstripe, f"/v1/refunds?payment_intent={payment['provider_reference']}"
    )
    ours = [r for r in refunds["data"] if r["metadata"].get("payment_id") == payment["payment_id"]]
    assert [r["amount"] for r in ours] == [1500]
    state = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert (state["status"], state["refunded_amount"]) == ("partially_refunded", 1500)


async def test_three_d_secure_finished_by_a_signed_webhook(api, webhooks, localstripe):
    method = await card_payment_method(localstripe, CARD_THREE_D_SECURE)
    created = await pay(api, provider="stripe", payment_method=method, capture_method="manual")
    payment = created.json()
    assert payment["status"] == "requires_action", created.text
    intent_id = payment["provider_reference"]

    await authenticate(localstripe, intent_id)  # the customer passes 3-D Secure
    intent = await stripe_object(localstripe, f"/v1/payment_intents/{intent_id}")
    body, headers = stripe_delivery(
        stripe_event("payment_intent.amount_capturable_updated", intent)
    )
    delivered = await webhooks.post("/v1/webhooks/stripe", content=body, headers=headers)

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "signaled"
    state = await wait_for_status(api, payment["payment_id"], "requires_capture")
    assert state["authorized_amount"] == 1999
    captured = await api.post(f"/v1/payments/{payment['payment_id']}/capture", json={})
    assert captured.json()["status"] == "succeeded"


async def test_bad_signatures_are_refused_and_counted(api, webhooks, localstripe):
    payment = (await pay(api, currency="EUR", payment_method="pm_card_visa")).json()
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    event = stripe_event("charge.dispute.created", {"object": "dispute", "payment_intent": "x"})
    before = await rejections(api)

    body, headers = stripe_delivery(stripe_event("payment_intent.succeeded", intent))
    tampered = body.replace(b'"succeeded"', b'"canceled"', 1)
    stale_body, stale_headers = stripe_delivery(event, timestamp=int(time.time()) - 301)
    future_body, future_headers = stripe_delivery(event, timestamp=int(time.time()) + 600)
    wrong_body, wrong_headers = stripe_delivery(event, secret="whsec_someone_else")
    attempts = [
        (tampered, headers),
        (stale_body, stale_headers),
        (future_body, future_headers),
        (wrong_body, wrong_headers),
        (body, {"Content-Type": "application/json"}),  # no signature at all
    ]
    for content, sent_headers in attempts:
        response = await webhooks.post("/v1/webhooks/stripe", content=content, headers=sent_headers)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_webhook_signature"

    assert await rejections(api) == before + len(attempts)
    state = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert state["status"] == "succeeded"  # nothing acted on


async def test_replayed_late_and_dispute_events(api, webhooks, localstripe):
    payment = (await pay(api, currency="EUR", payment_method="pm_card_visa")).json()
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )

    # A late event from before the capture arrives after the payment finished: harmless.
    late = stripe_delivery(stripe_event("payment_intent.amount_capturable_updated", intent))
    first = await webhooks.post("/v1/webhooks/stripe", content=late[0], headers=late[1])
    replayed = await webhooks.post("/v1/webhooks/stripe", content=late[0], headers=late[1])

    assert first.status_code == replayed.status_code == 200
    assert first.json()["outcome"] == "recorded"
    assert replayed.json()["outcome"] == "duplicate"
    state = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert (state["status"], state["captured_amount"]) == ("succeeded", 1999)

    dispute = {
        "id": f"dp_{uuid.uuid4().hex[:20]}",
        "object": "dispute",
        "amount": 1999,
        "currency": "eur",
        "reason": "fraudulent",
        "status": "needs_response",
        "payment_intent": intent["id"],
        "charge": "ch_unknown",
        "created": int(time.time()),
    }
    body, headers = stripe_delivery(stripe_event("charge.dispute.created", dispute))
    opened = await webhooks.post("/v1/webhooks/stripe", content=body, headers=headers)

    assert opened.json()["outcome"] == "recorded", opened.text
    state = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert state["status"] == "disputed"
    assert (state["dispute"]["reason"], state["dispute"]["amount"]) == ("fraudulent", 1999)

    unknown = dict(dispute, id="dp_unknown", payment_intent="pi_not_ours")
    body, headers = stripe_delivery(stripe_event("charge.dispute.created", unknown))
    stored = await webhooks.post("/v1/webhooks/stripe", content=body, headers=headers)
    assert (stored.status_code, stored.json()["outcome"]) == (200, "unknown_object")


async def rejections(api) -> int:
    health = (await api.get("/v1/providers/health")).json()["data"]
    return next(p["webhook_signature_failures"] for p in health if p["provider"] == "stripe")


async def intent_of(localstripe: str, payment: dict) -> dict:
    return await stripe_object(localstripe, f"/v1/payment_intents/{payment['provider_reference']}")
