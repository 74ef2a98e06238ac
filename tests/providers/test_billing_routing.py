"""Billing charges are routed like ``POST /v1/payments``: a subscription and an installment
plan in EUR (routed to Stripe by this stack's rules) are charged at Stripe (localstripe),
each charge a PaymentIntent there; in USD they stay on the default route."""

import asyncio
import uuid

from tests.providers.conftest import stripe_object

CUSTOMER = "cus_billing_routed"


def once() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def eventually(api, path: str, check, seconds: float = 60) -> dict:
    async with asyncio.timeout(seconds):
        while True:
            state = (await api.get(path)).json()
            if check(state):
                return state
            await asyncio.sleep(0.2)


async def charged_payment(api, localstripe, payment_id: str) -> tuple[dict, dict | None]:
    payment = (await api.get(f"/v1/payments/{payment_id}")).json()
    if payment["provider"] != "stripe":
        return payment, None
    path = f"/v1/payment_intents/{payment['provider_reference']}"
    return payment, await stripe_object(localstripe, path)


async def subscribe(api, currency: str) -> dict:
    plan = {"name": "Pro", "amount": 1500, "currency": currency, "interval": "month"}
    created = await api.post("/v1/plans", json=plan)
    assert created.status_code == 201, created.text
    body = {
        "customer_id": CUSTOMER,
        "plan_id": created.json()["plan_id"],
        "payment_method": "pm_card_visa",
    }
    response = await api.post("/v1/subscriptions", json=body, headers=once())
    assert response.status_code == 201, response.text
    sub_id = response.json()["subscription_id"]
    return await eventually(api, f"/v1/subscriptions/{sub_id}", lambda s: s["next_period"] == 1)


async def test_a_subscription_in_eur_is_charged_at_stripe(api, localstripe):
    paid = await subscribe(api, "EUR")

    period = paid["periods"][0]
    assert period["status"] == "paid", period
    payment, intent = await charged_payment(api, localstripe, period["payment_id"])
    assert (payment["status"], payment["provider"]) == ("succeeded", "stripe")
    assert intent is not None and intent["status"] == "succeeded"
    assert (intent["amount"], intent["currency"]) == (1500, "eur")


async def test_a_subscription_in_usd_stays_on_the_default_route(api, localstripe):
    paid = await subscribe(api, "USD")

    payment, _ = await charged_payment(api, localstripe, paid["periods"][0]["payment_id"])
    assert (payment["status"], payment["provider"]) == ("succeeded", "sandbox")


async def test_an_installment_plan_in_eur_is_charged_at_stripe(api, localstripe):
    body = {
        "amount": 3000,
        "currency": "EUR",
        "customer_id": CUSTOMER,
        "payment_method": "pm_card_visa",
        "count": 2,
        "interval": "month",
    }
    created = await api.post("/v1/installment-plans", json=body, headers=once())
    assert created.status_code == 201, created.text
    plan = created.json()

    first = plan["installments"][0]
    assert first["status"] == "paid", first
    payment_id = first["attempts"][0]["payment_id"]
    payment, intent = await charged_payment(api, localstripe, payment_id)
    assert (payment["provider"], payment["amount"]) == ("stripe", 1500)
    assert intent is not None and intent["status"] == "succeeded"
    cancel = await api.post(f"/v1/installment-plans/{plan['installment_plan_id']}/cancel")
    assert cancel.status_code == 200, cancel.text
