"""The buyer's browser back from PayPal: the return_url completes the payment without a
webhook, the cancel_url cancels it at once (not at the action timeout)."""

import httpx

from tests.providers.conftest import pay
from tests.providers.conftest import wait_for_status
from tests.support.ledger import assert_ledger_invariants

# Well under the stack's action timeout (120 s): the cancel must not wait for it.
PROMPTLY = 20


async def buyer_at_paypal(paypal, order_id: str, choice: str) -> str:
    """The buyer approves or cancels at PayPal; the url PayPal sends their browser to."""
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as http:
        response = await http.post(f"/_fake/orders/{order_id}/{choice}", json={})
        response.raise_for_status()
    return response.json()["return_url" if choice == "approve" else "cancel_url"]


async def browser_follows(url: str) -> httpx.Response:
    """A browser: no API key, just the url PayPal redirected it to."""
    async with httpx.AsyncClient(timeout=30) as browser:
        return await browser.get(url)


async def paypal_payment(api) -> dict:
    payment = (await pay(api, payment_method="pm_paypal")).json()
    assert (payment["status"], payment["provider"]) == ("requires_action", "paypal"), payment
    return payment


async def test_buyer_cancels_at_paypal_and_the_payment_is_canceled_at_once(
    api, paypal, stack, stack_db
):
    payment = await paypal_payment(api)
    cancel_url = await buyer_at_paypal(paypal, payment["provider_reference"], "cancel")
    assert cancel_url.startswith(f"{stack.api_url}/paypal/cancel?token=")

    landed = await browser_follows(cancel_url)

    assert landed.status_code == 200, landed.text
    assert landed.headers["content-type"].startswith("text/html")
    assert "Payment canceled" in landed.text, landed.text
    state = await wait_for_status(api, payment["payment_id"], "canceled", seconds=PROMPTLY)
    assert state["captured_amount"] == 0
    again = await browser_follows(cancel_url)
    assert again.status_code == 200, again.text
    assert (await api.get(f"/v1/payments/{payment['payment_id']}")).json()["status"] == "canceled"
    assert_ledger_invariants(stack_db)


async def test_buyer_approves_and_the_return_completes_the_payment_without_a_webhook(
    api, paypal, stack, stack_db
):
    payment = await paypal_payment(api)
    return_url = await buyer_at_paypal(paypal, payment["provider_reference"], "approve")
    assert return_url.startswith(f"{stack.api_url}/paypal/return?token=")
    assert "PayerID=" in return_url

    landed = await browser_follows(return_url)

    assert landed.status_code == 200, landed.text
    state = await wait_for_status(
        api, payment["payment_id"], "succeeded", "failed", "declined", seconds=PROMPTLY
    )
    assert state["status"] == "succeeded"
    assert (await browser_follows(return_url)).status_code == 200
    # Past cancelling: the cancel page says so, and changes nothing.
    cancel_url = return_url.split("&")[0].replace("/return?", "/cancel?")  # token only
    late_cancel = await browser_follows(cancel_url)
    assert late_cancel.status_code == 200, late_cancel.text
    assert (await api.get(f"/v1/payments/{payment['payment_id']}")).json()["status"] == "succeeded"
    assert_ledger_invariants(stack_db)


async def test_an_unknown_order_answers_404_and_changes_nothing(stack):
    for route in ("return", "cancel"):
        landed = await browser_follows(f"{stack.api_url}/paypal/{route}?token=<b>NOPE</b>")
        assert landed.status_code == 404, landed.text
        assert landed.headers["content-type"].startswith("application/problem+json")
        assert landed.json()["code"] == "payment_not_found"
        assert "<b>" not in landed.text
