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
from tests.providers.test_stripe_disputes import dispute_of


async def buyer_disputes(paypal, capture_id: str) -> dict:
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        response = await http.post(f"/_fake/captures/{capture_id}/dispute", json={})
        response.raise_for_status()
        return response.json()


async def captured_at_paypal(api, webhooks, paypal, amount: int = 4200) -> tuple[dict, str]:
    """A PayPal payment the buyer approved and PayPal captured, and its capture id."""
    payment = (await pay(api, payment_method="pm_paypal", amount=amount)).json()
    assert payment["status"] == "requires_action", payment
    await approve(paypal, payment["provider_reference"])
    await deliver(webhooks, paypal, "CHECKOUT.ORDER.APPROVED", order(payment))
    await wait_for_status(api, payment["payment_id"], "succeeded")
    unit = (await paypal_order(paypal, payment["provider_reference"]))["purchase_units"][0]
    return payment, unit["payments"]["captures"][0]["id"]


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


async def test_a_paypal_case_is_a_dispute_from_opened_to_resolved(api, webhooks, paypal):
    payment, capture_id = await captured_at_paypal(api, webhooks, paypal, amount=3100)
    dispute = await buyer_disputes(paypal, capture_id)

    await deliver(webhooks, paypal, "CUSTOMER.DISPUTE.CREATED", dispute)
    opened = await dispute_of(api, payment, status="needs_response")

    assert (opened["provider"], opened["provider_reference"]) == ("paypal", dispute["dispute_id"])
    assert (opened["amount"], opened["currency"]) == (3100, "USD")
    assert opened["reason"] == "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"
    assert opened["evidence_due_by"] is not None
    # PayPal takes evidence as documents: refused here, with a problem, not a 500.
    evidence = await api.post(
        f"/v1/disputes/{opened['dispute_id']}/evidence", json={"uncategorized_text": "shipped"}
    )
    assert (evidence.status_code, evidence.json()["code"]) == (409, "dispute_refused")

    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        resolved = await http.post(
            f"/_fake/disputes/{dispute['dispute_id']}/resolve",
            json={"outcome": "RESOLVED_SELLER_FAVOUR"},
        )
    await deliver(webhooks, paypal, "CUSTOMER.DISPUTE.RESOLVED", resolved.json())

    assert (await dispute_of(api, payment, status="won"))["dispute_id"] == opened["dispute_id"]


async def test_accepting_a_paypal_claim_closes_it_for_the_buyer(api, webhooks, paypal):
    payment, capture_id = await captured_at_paypal(api, webhooks, paypal, amount=2900)
    dispute = await buyer_disputes(paypal, capture_id)
    await deliver(webhooks, paypal, "CUSTOMER.DISPUTE.CREATED", dispute)
    opened = await dispute_of(api, payment, status="needs_response")

    accepted = await api.post(f"/v1/disputes/{opened['dispute_id']}/accept")

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "lost"
    again = await api.post(f"/v1/disputes/{opened['dispute_id']}/accept")
    assert (again.status_code, again.json()["code"]) == (409, "dispute_closed")
