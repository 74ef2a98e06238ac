"""Customers and saved payment methods through the REST API, mirrored at Stripe (localstripe,
made as strict as Stripe about saved methods by ``tests/support/localstripe_strict``) and at
the sandbox; payments and subscriptions charging a saved method, off-session for billing."""

import asyncio
import uuid
from datetime import datetime
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session
from sqlmodel import select

from schemas.store.tables import SavedPaymentMethodRecord
from tests.providers.conftest import stripe_object
from tests.providers.conftest import wait_for_status
from tests.support.embedded_stack import api_client
from tests.support.localstripe import CARD_OK
from tests.support.localstripe import CARD_THREE_D_SECURE
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.localstripe import card_payment_method
from tests.support.tenants import tenant_client


def once() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def new_customer(api, **fields) -> dict:
    created = await api.post("/v1/customers", json={"name": "Ada", **fields}, headers=once())
    assert created.status_code == 201, created.text
    return created.json()


async def save(api, customer: dict, token: str, **fields) -> httpx.Response:
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    return await api.post(path, json={"payment_method": token, **fields}, headers=once())


async def saved_card(api, localstripe, number: str = CARD_OK) -> tuple[dict, dict]:
    customer = await new_customer(api)
    token = await card_payment_method(localstripe, number)
    saved = await save(api, customer, token)
    assert saved.status_code == 201, saved.text
    return (await api.get(f"/v1/customers/{customer['customer_id']}")).json(), saved.json()


async def localstripe_post(localstripe: str, path: str, form: dict) -> httpx.Response:
    async with httpx.AsyncClient(base_url=localstripe, timeout=10) as http:
        return await http.post(path, data=form, auth=(LOCALSTRIPE_API_KEY, ""))


@pytest.fixture
async def admin(stack):
    async with api_client(stack, {"Authorization": f"Bearer {stack.admin_key}"}) as client:
        yield client


async def test_a_card_saved_at_stripe_is_attached_to_the_customer_there(api, localstripe):
    customer, method = await saved_card(api, localstripe)

    stripe_customer = customer["provider_customers"]["stripe"]
    assert method["provider"] == "stripe"
    assert (method["brand"], method["last4"], method["exp_year"]) == ("visa", "4242", 2030)
    assert method["fingerprint"]
    at_stripe = await stripe_object(
        localstripe, f"/v1/payment_methods/{method['provider_reference']}"
    )
    assert at_stripe["customer"] == stripe_customer
    # The first saved method is the default, at Stripe too.
    assert customer["default_payment_method"] == method["payment_method_id"]
    mirror = await stripe_object(localstripe, f"/v1/customers/{stripe_customer}")
    default = mirror["invoice_settings"]["default_payment_method"]
    assert default == method["provider_reference"]
    assert mirror["metadata"]["customer_id"] == customer["customer_id"]
    listed = await api.get(f"/v1/customers/{customer['customer_id']}/payment-methods")
    assert [m["payment_method_id"] for m in listed.json()["data"]] == [method["payment_method_id"]]
    assert CARD_OK not in listed.text


async def test_a_second_method_becomes_the_default_when_asked(api, localstripe):
    customer, first = await saved_card(api, localstripe)
    second = (await save(api, customer, "tok_visa", provider="sandbox")).json()
    assert second["provider"] == "sandbox"
    path = f"/v1/customers/{customer['customer_id']}"
    assert (await api.get(path)).json()["default_payment_method"] == first["payment_method_id"]

    changed = await api.patch(
        path, json={"default_payment_method": second["payment_method_id"], "email": "a@b.test"}
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["default_payment_method"] == second["payment_method_id"]
    assert changed.json()["email"] == "a@b.test"
    assert changed.json()["name"] == "Ada"


async def test_detach_at_stripe_and_the_method_is_gone(api, localstripe):
    customer, method = await saved_card(api, localstripe)
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"

    detached = await api.delete(f"{path}/{method['payment_method_id']}")

    assert detached.status_code == 200, detached.text
    assert detached.json()["status"] == "detached"
    at_stripe = await stripe_object(
        localstripe, f"/v1/payment_methods/{method['provider_reference']}"
    )
    assert at_stripe["customer"] is None
    assert (await api.get(path)).json()["data"] == []
    after = await api.get(f"/v1/customers/{customer['customer_id']}")
    assert after.json()["default_payment_method"] is None
    again = await api.delete(f"{path}/{method['payment_method_id']}")
    assert (again.status_code, again.json()["code"]) == (404, "saved_payment_method_not_found")
    # Stripe refuses to charge it off-session now: it belongs to no customer.
    refused = await localstripe_post(
        localstripe,
        "/v1/payment_intents",
        {
            "amount": "500",
            "currency": "eur",
            "payment_method": method["provider_reference"],
            "confirm": "true",
            "off_session": "true",
        },
    )
    assert refused.status_code == 400
    assert "attach it to a Customer first" in refused.json()["error"]["message"]


async def test_a_payment_names_the_customer_and_its_saved_method(api, localstripe):
    customer, method = await saved_card(api, localstripe)

    created = await api.post(
        "/v1/payments",
        json={
            "amount": 2500,
            "currency": "EUR",
            "customer_id": "shop-customer-1",
            "customer": customer["customer_id"],
            "payment_method": method["payment_method_id"],
        },
        headers=once(),
    )

    assert created.status_code == 201, created.text
    payment = await wait_for_status(api, created.json()["payment_id"], "succeeded")
    assert payment["provider"] == "stripe"
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    assert intent["payment_method"] == method["provider_reference"]


async def test_bad_input_is_a_problem_and_writes_nothing(api, localstripe, stack, admin):
    customer, method = await saved_card(api, localstripe)
    other = await new_customer(api, name="Bob")
    payment = {"amount": 100, "currency": "EUR", "customer_id": "c1"}

    unknown = await api.post(
        "/v1/payments",
        json=payment
        | {"customer": "cust_" + "0" * 24, "payment_method": method["payment_method_id"]},
        headers=once(),
    )
    not_theirs = await api.post(
        "/v1/payments",
        json=payment
        | {"customer": other["customer_id"], "payment_method": method["payment_method_id"]},
        headers=once(),
    )
    no_customer = await api.post(
        "/v1/payments",
        json=payment | {"payment_method": method["payment_method_id"]},
        headers=once(),
    )
    missing = await api.get("/v1/customers/cust_" + "0" * 24)
    refused_token = await save(api, other, "pm_doesnotexist")
    paypal = await save(api, other, "tok_visa", provider="paypal")
    bad_email = await api.post("/v1/customers", json={"email": "not-an-email"})

    for answer, status, code in [
        (unknown, 404, "customer_not_found"),
        (not_theirs, 404, "saved_payment_method_not_found"),
        (no_customer, 422, "invalid_payment_method"),
        (missing, 404, "customer_not_found"),
        (refused_token, 422, "payment_method_refused"),
        (paypal, 422, "provider_cannot_save_methods"),
        (bad_email, 422, "validation_error"),
    ]:
        assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    methods = await api.get(f"/v1/customers/{other['customer_id']}/payment-methods")
    assert methods.json()["data"] == []
    async with tenant_client(stack, admin) as (_, stranger):
        theirs = await stranger.get(f"/v1/customers/{customer['customer_id']}")
        saving = await save(stranger, customer, "tok_visa")
        listed = (await stranger.get("/v1/customers")).json()["data"]
    assert (theirs.status_code, theirs.json()["code"]) == (404, "customer_not_found")
    assert (saving.status_code, saving.json()["code"]) == (404, "customer_not_found")
    assert customer["customer_id"] not in [c["customer_id"] for c in listed]


async def test_saving_under_one_idempotency_key_saves_once(api, localstripe):
    customer = await new_customer(api)
    token = await card_payment_method(localstripe, CARD_OK)
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    key = once()

    first = await api.post(path, json={"payment_method": token}, headers=key)
    second = await api.post(path, json={"payment_method": token}, headers=key)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["payment_method_id"] == second.json()["payment_method_id"]
    assert len((await api.get(path)).json()["data"]) == 1


async def eventually(api, path: str, check, seconds: float = 60) -> dict:
    async with asyncio.timeout(seconds):
        while True:
            state = (await api.get(path)).json()
            if check(state):
                return state
            await asyncio.sleep(0.2)


async def subscribe(api, customer: dict, method: dict) -> dict:
    plan = {"name": "Pro", "amount": 1500, "currency": "USD", "interval": "month"}
    created = await api.post("/v1/plans", json=plan)
    body = {
        "customer_id": "shop-customer-2",
        "customer": customer["customer_id"],
        "plan_id": created.json()["plan_id"],
        "payment_method": method["payment_method_id"],
    }
    response = await api.post("/v1/subscriptions", json=body, headers=once())
    assert response.status_code == 201, response.text
    sub_id = response.json()["subscription_id"]
    return await eventually(
        api, f"/v1/subscriptions/{sub_id}", lambda s: s["periods"] and s["periods"][0]["attempts"]
    )


async def test_a_subscription_charges_the_saved_card_off_session_at_stripe(api, localstripe):
    customer, method = await saved_card(api, localstripe)

    # USD routes to the sandbox by default: the saved method keeps the charge at Stripe.
    state = await subscribe(api, customer, method)

    period = state["periods"][0]
    assert period["status"] == "paid", period
    payment = (await api.get(f"/v1/payments/{period['payment_id']}")).json()
    assert (payment["provider"], payment["status"]) == ("stripe", "succeeded")
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    assert intent["payment_method"] == method["provider_reference"]
    assert (intent["status"], intent["amount"]) == ("succeeded", 1500)
    await api.post(f"/v1/subscriptions/{state['subscription_id']}/cancel", json={})


async def authenticated_card(api, localstripe, stack_db) -> tuple[dict, dict]:
    """A 3-D Secure card saved through Stripe's SetupIntent: the customer authenticates
    with the client secret (as Stripe.js's ``confirmCardSetup`` does), then the API is told."""
    customer = await new_customer(api)
    token = await card_payment_method(localstripe, CARD_THREE_D_SECURE)
    saved = await save(api, customer, token)
    assert saved.status_code == 201, saved.text
    pending = saved.json()
    assert pending["status"] == "requires_action"
    assert pending["setup_reference"].startswith("seti_")
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    method_path = f"{path}/{pending['payment_method_id']}"
    assert (await api.get(path)).json()["data"] == []  # not usable yet

    answer = await api.get(f"{method_path}/customer-action")

    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    action = answer.json()
    assert action["type"] == "use_stripe_sdk"
    secret = action["client_secret"]
    assert secret.startswith(pending["setup_reference"] + "_secret_")
    seti = pending["setup_reference"]
    done = await localstripe_post(
        localstripe, f"/v1/setup_intents/{seti}/confirm", {"client_secret": secret}
    )
    assert done.status_code == 200, done.text
    confirmed = await api.post(f"{method_path}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    listed = await eventually(api, path, lambda page: page["data"])
    [method] = listed["data"]
    assert (method["status"], method["last4"]) == ("active", "3184")
    with Session(stack_db) as session:
        rows = session.exec(select(SavedPaymentMethodRecord)).all()
    assert all(secret not in row.model_dump_json() for row in rows)
    customer = (await api.get(f"/v1/customers/{customer['customer_id']}")).json()
    assert customer["default_payment_method"] == method["payment_method_id"]
    at_stripe = await stripe_object(localstripe, f"/v1/payment_methods/{token}")
    assert at_stripe["customer"] == customer["provider_customers"]["stripe"]
    after = await api.get(f"{method_path}/customer-action")
    assert (after.status_code, after.json()["code"]) == (404, "saved_payment_method_not_found")
    return customer, method


async def test_a_three_d_secure_card_is_saved_after_the_customer_authenticates(
    api, localstripe, stack_db
):
    await authenticated_card(api, localstripe, stack_db)


async def test_an_off_session_charge_that_needs_authentication_is_dunned(
    api, localstripe, stack_db
):
    # This test card asks for authentication on every charge, saved or not.
    customer, method = await authenticated_card(api, localstripe, stack_db)

    state = await subscribe(api, customer, method)

    period = state["periods"][0]
    attempt = period["attempts"][0]
    assert (state["status"], period["status"]) == ("past_due", "past_due"), state
    assert (attempt["status"], attempt["failure_code"]) == ("declined", "authentication_required")
    # The first of the dunning retries (1, 3, 7 days after the first failure).
    first_failed = datetime.fromisoformat(period["first_failed_at"])
    assert datetime.fromisoformat(state["next_retry_at"]) == first_failed + timedelta(days=1)
    intents = (await stripe_object(localstripe, "/v1/payment_intents?limit=100"))["data"]
    [intent] = [i for i in intents if i["metadata"].get("payment_id") == attempt["payment_id"]]
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    assert intent["status"] == "requires_payment_method"
    assert intent["last_payment_error"]["code"] == "authentication_required"
    # A new payment method (a sandbox token, routed like the plan's USD) retries at once.
    sub_path = f"/v1/subscriptions/{state['subscription_id']}"
    updated = await api.post(f"{sub_path}/payment-method", json={"payment_method": "tok_visa"})
    assert updated.status_code == 200, updated.text
    paid = await eventually(api, sub_path, lambda s: s["periods"][0]["status"] == "paid")
    assert paid["status"] == "active"
    assert [a["status"] for a in paid["periods"][0]["attempts"]] == ["declined", "succeeded"]
    await api.post(f"{sub_path}/cancel", json={})


async def test_an_installment_plan_charges_the_saved_card_off_session_at_stripe(api, localstripe):
    customer, method = await saved_card(api, localstripe)
    body = {
        "amount": 3000,
        "currency": "USD",
        "customer_id": "shop-customer-4",
        "customer": customer["customer_id"],
        "payment_method": method["payment_method_id"],
        "count": 2,
        "interval": "month",
    }

    created = await api.post("/v1/installment-plans", json=body, headers=once())

    assert created.status_code == 201, created.text
    plan = created.json()
    first = plan["installments"][0]
    assert first["status"] == "paid", first
    payment = (await api.get(f"/v1/payments/{first['attempts'][0]['payment_id']}")).json()
    assert (payment["provider"], payment["amount"]) == ("stripe", 1500)
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    assert intent["payment_method"] == method["provider_reference"]
    await api.post(f"/v1/installment-plans/{plan['installment_plan_id']}/cancel")


async def test_the_customer_finishes_a_declined_off_session_charge_on_session(
    api, localstripe, stack_db
):
    customer, method = await authenticated_card(api, localstripe, stack_db)
    state = await subscribe(api, customer, method)
    assert state["status"] == "past_due", state
    sub_path = f"/v1/subscriptions/{state['subscription_id']}"

    retried = await api.post(f"{sub_path}/retry-on-session")

    assert retried.status_code == 200, retried.text
    payment_id = retried.json()["periods"][0]["payment_id"]
    assert payment_id != state["periods"][0]["attempts"][0]["payment_id"]
    payment = await wait_for_status(api, payment_id, "requires_action")
    action = (await api.get(f"/v1/payments/{payment_id}/customer-action")).json()
    secret = action["client_secret"]
    # What Stripe.js does in the customer's browser with the client secret alone.
    done = await localstripe_post(
        localstripe,
        f"/v1/payment_intents/{payment['provider_reference']}/_authenticate",
        {"client_secret": secret, "success": "true"},
    )
    assert done.status_code == 200, done.text
    confirmed = await api.post(f"/v1/payments/{payment_id}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    paid = await eventually(api, sub_path, lambda s: s["periods"][0]["status"] == "paid")
    assert paid["status"] == "active"
    assert [a["status"] for a in paid["periods"][0]["attempts"]] == ["declined", "succeeded"]
    intent = await stripe_object(
        localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
    )
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    again = await api.post(f"{sub_path}/retry-on-session")
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    await api.post(f"{sub_path}/cancel", json={})


async def test_a_subscription_charges_a_token_saved_at_the_sandbox(api, sandbox):
    customer = await new_customer(api)
    saved = await save(api, customer, "tok_visa", provider="sandbox")
    assert saved.status_code == 201, saved.text
    method = saved.json()
    assert (method["provider"], method["status"]) == ("sandbox", "active")

    state = await subscribe(api, customer, method)

    period = state["periods"][0]
    assert period["status"] == "paid", period
    payment = (await api.get(f"/v1/payments/{period['payment_id']}")).json()
    assert (payment["provider"], payment["status"]) == ("sandbox", "succeeded")
    stats = (await sandbox.get("/v1/stats")).json()["charges_by_reference"]
    assert stats[period["payment_id"]] == 1
    await api.post(f"/v1/subscriptions/{state['subscription_id']}/cancel", json={})
