"""A PayPal dispute finds its payment: PayPal names the disputed capture and echoes the
purchase unit's invoice id (our payment id) and custom id (our tenant), never the order id
that is the payment's provider reference."""

import httpx

from tests.providers.conftest import pay
from tests.providers.conftest import wait_for_status
from tests.providers.test_paypal_payments import approve
from tests.providers.test_paypal_payments import deliver
from tests.providers.test_paypal_payments import order
from tests.providers.test_paypal_payments import paypal_order


async def buyer_disputes(paypal, capture_id: str) -> dict:
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        response = await http.post(f"/_fake/captures/{capture_id}/dispute", json={})
        response.raise_for_status()
        return response.json()


async def test_a_dispute_marks_the_payment_it_names(api, webhooks, paypal):
    payment = (await pay(api, payment_method="pm_paypal", amount=4200)).json()
    assert payment["status"] == "requires_action", payment
    order_id = payment["provider_reference"]
    await approve(paypal, order_id)
    await deliver(webhooks, paypal, "CHECKOUT.ORDER.APPROVED", order(payment))
    await wait_for_status(api, payment["payment_id"], "succeeded")
    unit = (await paypal_order(paypal, order_id))["purchase_units"][0]
    assert unit["invoice_id"] == payment["payment_id"]
    dispute = await buyer_disputes(paypal, unit["payments"]["captures"][0]["id"])
    assert order_id not in str(dispute)  # what PayPal sends has no order id to match

    delivered = await deliver(webhooks, paypal, "CUSTOMER.DISPUTE.CREATED", dispute)

    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "recorded"
    state = await wait_for_status(api, payment["payment_id"], "disputed", seconds=20)
    assert state["dispute"]["reason"] == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"


async def test_a_dispute_of_a_transaction_that_is_not_ours_changes_nothing(webhooks, paypal):
    dispute = {
        "dispute_id": "PP-D-NOT-OURS",
        "reason": "UNAUTHORISED",
        "status": "OPEN",
        "disputed_transactions": [{"seller_transaction_id": "0XY", "invoice_number": "INV-9"}],
        "dispute_amount": {"currency_code": "USD", "value": "10.00"},
    }
    delivered = await deliver(webhooks, paypal, "CUSTOMER.DISPUTE.CREATED", dispute)
    assert delivered.status_code == 200, delivered.text
    assert delivered.json()["outcome"] == "unknown_object"
