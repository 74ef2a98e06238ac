"""An installment plan's off-session charge of a saved 3-D Secure card is declined at Stripe
(localstripe, as strict as Stripe); the customer, back, gets the installment charged again
on-session and passes 3-D Secure with the payment's client secret."""

import pytest

from tests.providers.conftest import stripe_object
from tests.providers.conftest import wait_for_status
from tests.providers.test_customers import authenticated_card
from tests.providers.test_customers import eventually
from tests.providers.test_customers import once
from tests.providers.test_customers import saved_card
from tests.support.embedded_stack import api_client
from tests.support.ledger import assert_ledger_invariants
from tests.support.localstripe import authenticate
from tests.support.tenants import tenant_client


async def installment_plan(api, customer: dict, payment_method: str, **fields) -> dict:
    body = {
        "amount": 3000,
        "currency": "USD",
        "customer_id": "shop-customer-5",
        "customer": customer and customer["customer_id"],
        "payment_method": payment_method,
        "count": 2,
        "interval": "month",
        **fields,
    }
    created = await api.post(
        "/v1/installment-plans",
        json={k: v for k, v in body.items() if v is not None},
        headers=once(),
    )
    assert created.status_code == 201, created.text
    return created.json()


@pytest.mark.parametrize(
    ("retry_days", "failed"), [(None, "past_due"), ([], "defaulted")], ids=["past_due", "defaulted"]
)
async def test_the_customer_finishes_a_declined_installment_on_session(
    api, localstripe, stack_db, retry_days, failed
):
    customer, method = await authenticated_card(api, localstripe, stack_db)
    plan = await installment_plan(
        api, customer, method["payment_method_id"], dunning_retry_days=retry_days
    )
    first = plan["installments"][0]
    [declined] = first["attempts"]
    assert plan["status"] == failed, plan
    assert (declined["status"], declined["failure_code"]) == ("declined", "authentication_required")
    plan_path = f"/v1/installment-plans/{plan['installment_plan_id']}"

    retried = await api.post(f"{plan_path}/retry-on-session", headers=once())

    assert retried.status_code == 200, retried.text
    payment_id = retried.json()["payment_id"]
    assert payment_id != declined["payment_id"]
    payment = await wait_for_status(api, payment_id, "requires_action")
    assert payment["provider"] == "stripe"
    action = await api.get(f"/v1/payments/{payment_id}/customer-action")
    assert action.status_code == 200, action.text
    intent_id = payment["provider_reference"]
    assert action.json()["client_secret"].startswith(f"{intent_id}_secret_")
    await authenticate(localstripe, intent_id)
    confirmed = await api.post(f"/v1/payments/{payment_id}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    paid = await eventually(api, plan_path, lambda p: p["installments"][0]["status"] == "paid")
    assert (paid["status"], paid["amount_paid"]) == ("active", 1500)
    attempts = paid["installments"][0]["attempts"]
    assert [(a["payment_id"], a["status"]) for a in attempts] == [
        (declined["payment_id"], "declined"),
        (payment_id, "succeeded"),
    ]
    intent = await stripe_object(localstripe, f"/v1/payment_intents/{intent_id}")
    assert (intent["status"], intent["amount"]) == ("succeeded", 1500)
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    # Nothing is past due any more.
    again = await api.post(f"{plan_path}/retry-on-session")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_plan_state")
    assert again.headers["content-type"] == "application/problem+json"
    await api.post(f"{plan_path}/cancel")
    assert_ledger_invariants(stack_db)


async def test_an_on_session_retry_the_customer_does_not_finish_keeps_the_dunning_schedule(
    api, localstripe, stack_db
):
    customer, method = await authenticated_card(api, localstripe, stack_db)
    plan = await installment_plan(api, customer, method["payment_method_id"])
    plan_path = f"/v1/installment-plans/{plan['installment_plan_id']}"
    retry_at = plan["installments"][0]["next_retry_at"]

    retried = await api.post(f"{plan_path}/retry-on-session")

    assert retried.status_code == 200, retried.text
    payment_id = retried.json()["payment_id"]
    payment = await wait_for_status(api, payment_id, "requires_action")
    await authenticate(localstripe, payment["provider_reference"], success=False)
    confirmed = await api.post(f"/v1/payments/{payment_id}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    after = await eventually(api, plan_path, lambda p: len(p["installments"][0]["attempts"]) == 2)
    first = after["installments"][0]
    assert first["attempts"][1]["status"] != "succeeded", first
    assert (after["status"], first["status"]) == ("past_due", "retrying")
    assert (first["failures"], first["next_retry_at"]) == (1, retry_at)
    await api.post(f"{plan_path}/cancel")
    assert_ledger_invariants(stack_db)


@pytest.mark.usefixtures("sandbox")
async def test_retry_on_session_is_refused_without_a_failed_saved_method_charge(
    api, localstripe, stack
):
    customer, method = await saved_card(api, localstripe)
    charged = await installment_plan(api, customer, method["payment_method_id"])
    assert charged["installments"][0]["status"] == "paid", charged
    token_plan = await installment_plan(api, None, "tok_chargeDeclined")
    assert token_plan["status"] == "past_due", token_plan

    nothing_due = await api.post(
        f"/v1/installment-plans/{charged['installment_plan_id']}/retry-on-session"
    )
    no_saved_method = await api.post(
        f"/v1/installment-plans/{token_plan['installment_plan_id']}/retry-on-session"
    )
    admin = api_client(stack, {"Authorization": f"Bearer {stack.admin_key}"})
    async with admin, tenant_client(stack, admin) as (_, stranger):
        theirs = await stranger.post(
            f"/v1/installment-plans/{charged['installment_plan_id']}/retry-on-session"
        )

    assert (nothing_due.status_code, nothing_due.json()["code"]) == (409, "invalid_plan_state")
    assert "nothing is past due" in nothing_due.json()["detail"]
    assert (no_saved_method.status_code, no_saved_method.json()["code"]) == (
        409,
        "invalid_plan_state",
    )
    assert "saved method" in no_saved_method.json()["detail"]
    assert (theirs.status_code, theirs.json()["code"]) == (404, "installment_plan_not_found")
    for plan in (charged, token_plan):
        await api.post(f"/v1/installment-plans/{plan['installment_plan_id']}/cancel")
