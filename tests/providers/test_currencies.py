"""Amounts in currencies whose decimals at the provider differ from ISO 4217, through the
REST API: sent in the provider's units (checked on the provider's own object), refunded in the
same units, or refused with 422 before anything is written."""

import uuid

from tests.providers.conftest import pay
from tests.providers.conftest import refund_payment
from tests.providers.conftest import stripe_object
from tests.providers.conftest import wait_for_status
from tests.providers.test_paypal_payments import approve
from tests.providers.test_paypal_payments import paypal_order
from tests.support.ledger import assert_ledger_invariants


async def test_mga_at_stripe_is_sent_in_whole_ariary_and_refunded_alike(api, localstripe, stack_db):
    created = await pay(
        api, provider="stripe", payment_method="pm_card_visa", amount=50_000, currency="MGA"
    )

    assert created.status_code == 201, created.text
    payment = created.json()
    assert (payment["status"], payment["captured_amount"]) == ("succeeded", 50_000)
    path = f"/v1/payment_intents/{payment['provider_reference']}"
    intent = await stripe_object(localstripe, path)
    assert (intent["amount"], intent["currency"]) == (500, "mga")  # 500 ariary, not 50,000

    refund = await refund_payment(api, payment["payment_id"], 10_000)

    assert refund.status_code == 201, refund.text
    assert (refund.json()["status"], refund.json()["amount"]) == ("succeeded", 10_000)
    refunds = (await stripe_object(localstripe, f"/v1/refunds?payment_intent={intent['id']}"))[
        "data"
    ]
    assert [r["amount"] for r in refunds] == [100]
    state = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert (state["status"], state["refunded_amount"]) == ("partially_refunded", 10_000)
    assert_ledger_invariants(stack_db)


async def test_a_fractional_ariary_is_refused_before_anything_is_written(api, localstripe):
    customer = f"cus_{uuid.uuid4().hex[:8]}"

    refused = await pay(
        api,
        provider="stripe",
        payment_method="pm_card_visa",
        amount=1999,
        currency="MGA",
        customer_id=customer,
    )

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "amount_not_representable"
    listed = await api.get("/v1/payments", params={"customer_id": customer})
    assert listed.json()["data"] == []


async def test_a_fractional_refund_of_an_ariary_payment_is_refused(api, localstripe):
    payment = (
        await pay(
            api, provider="stripe", payment_method="pm_card_visa", amount=50_000, currency="MGA"
        )
    ).json()

    refused = await refund_payment(api, payment["payment_id"], 1050)

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "amount_not_representable"
    listed = await api.get(f"/v1/payments/{payment['payment_id']}/refunds")
    assert listed.json()["data"] == []


async def test_paypal_refuses_huf_and_twd_fractions_up_front(api, paypal):
    for currency in ("HUF", "TWD"):
        refused = await pay(api, payment_method="pm_paypal", amount=150_050, currency=currency)

        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "amount_not_representable"


async def test_paypal_refuses_a_currency_it_does_not_take(api, paypal):
    refused = await pay(api, payment_method="pm_paypal", amount=50_000, currency="MGA")

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "currency_not_supported"


async def test_whole_forints_reach_paypal_without_decimals_and_refund_alike(api, paypal, stack_db):
    payment = (
        await pay(
            api, payment_method="pm_paypal", amount=150_000, currency="HUF", capture_method="manual"
        )
    ).json()
    assert payment["status"] == "requires_action", payment
    await approve(paypal, payment["provider_reference"])
    await api.post(f"/v1/payments/{payment['payment_id']}/confirm", json={})
    await wait_for_status(api, payment["payment_id"], "requires_capture")

    captured = await api.post(
        f"/v1/payments/{payment['payment_id']}/capture", json={"amount": 100_000}
    )
    assert captured.json()["captured_amount"] == 100_000, captured.text
    refund = await refund_payment(api, payment["payment_id"], 20_000)

    assert refund.status_code == 201, refund.text
    assert refund.json()["amount"] == 20_000
    held = await paypal_order(paypal, payment["provider_reference"])
    assert held["purchase_units"][0]["amount"]["value"] == "1500"
    unit = held["purchase_units"][0]["payments"]
    assert [c["amount"]["value"] for c in unit["captures"]] == ["1000"]
    assert [r["amount"]["value"] for r in unit["refunds"]] == ["200"]
    assert_ledger_invariants(stack_db)


async def test_a_fractional_ariary_capture_is_refused_and_the_hold_kept(api, localstripe):
    payment = (
        await pay(
            api,
            provider="stripe",
            payment_method="pm_card_visa",
            amount=50_000,
            currency="MGA",
            capture_method="manual",
        )
    ).json()
    assert payment["status"] == "requires_capture", payment

    refused = await api.post(
        f"/v1/payments/{payment['payment_id']}/capture", json={"amount": 20_050}
    )

    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "amount_not_representable"
    captured = await api.post(
        f"/v1/payments/{payment['payment_id']}/capture", json={"amount": 20_000}
    )
    assert captured.json()["captured_amount"] == 20_000, captured.text
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert (intent["status"], intent["amount"]) == ("succeeded", 500)
