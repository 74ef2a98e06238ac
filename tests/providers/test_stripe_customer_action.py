"""Stripe 3-D Secure finished the way Stripe.js finishes it: the merchant's server asks the
API for the payment's customer action, hands the client secret to the customer's browser,
which authenticates with it (localstripe's simulation of Stripe.js), then tells the API the
customer is done. The secret is asked of Stripe each time and kept nowhere of ours."""

import httpx
from sqlmodel import Session
from sqlmodel import select

from schemas.store.tables import PaymentRecord
from tests.providers.conftest import pay
from tests.providers.conftest import wait_for_status
from tests.support.localstripe import CARD_THREE_D_SECURE
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.localstripe import card_payment_method


async def authenticate_with(localstripe: str, intent_id: str, client_secret: str) -> None:
    """What Stripe.js does in the customer's browser with the client secret alone."""
    async with httpx.AsyncClient(base_url=localstripe, timeout=10) as browser:
        response = await browser.post(
            f"/v1/payment_intents/{intent_id}/_authenticate",
            data={"client_secret": client_secret, "success": "true"},
            auth=(LOCALSTRIPE_API_KEY, ""),
        )
    response.raise_for_status()


async def test_three_d_secure_finished_with_the_client_secret(api, localstripe, stack_db):
    method = await card_payment_method(localstripe, CARD_THREE_D_SECURE)
    created = await pay(api, provider="stripe", payment_method=method, capture_method="manual")
    payment = created.json()
    assert payment["status"] == "requires_action", created.text
    assert "client_secret" not in created.text

    answer = await api.get(f"/v1/payments/{payment['payment_id']}/customer-action")

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    action = answer.json()
    assert action["type"] == "use_stripe_sdk"
    secret = action["client_secret"]
    assert secret.startswith(payment["provider_reference"] + "_secret_")
    await authenticate_with(localstripe, payment["provider_reference"], secret)
    confirmed = await api.post(f"/v1/payments/{payment['payment_id']}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    state = await wait_for_status(api, payment["payment_id"], "requires_capture")
    assert state["authorized_amount"] == 1999
    with Session(stack_db) as session:
        row = session.exec(
            select(PaymentRecord).where(PaymentRecord.payment_id == payment["payment_id"])
        ).one()
    assert secret not in row.state_json
    after = await api.get(f"/v1/payments/{payment['payment_id']}/customer-action")
    assert (after.status_code, after.json()["code"]) == (409, "invalid_state")
    await api.post(f"/v1/payments/{payment['payment_id']}/cancel", json={})


async def test_a_payment_without_a_pending_action_has_none(api):
    payment = (await pay(api, currency="EUR", payment_method="pm_card_visa")).json()
    assert payment["status"] == "succeeded", payment
    answer = await api.get(f"/v1/payments/{payment['payment_id']}/customer-action")
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "invalid_state"
    missing = await api.get("/v1/payments/pay_000000000000000000000000/customer-action")
    assert missing.status_code == 404
