"""A customer's card saved at the sandbox gateway, which keeps it as Stripe would: a
subscription charged off-session for three periods, a card that needs 3-D Secure declined
``authentication_required`` and dunned, a detached card refused by the gateway. Months pass
in seconds: the real API app (in process, over ASGI) and an in-process worker on the
time-skipping Temporal server, the real sandbox adapter and gateway process, SQLite. The
customer finishing a declined charge on-session runs on the embedded stack, in real time."""

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api import api_keys
from schemas.identity import payment_workflow_id
from schemas.identity import subscription_workflow_id
from schemas.runtime.settings import Settings
from tests.conftest import time_skipping_env
from tests.providers.conftest import wait_for_status
from tests.providers.test_off_session_billing import eventually
from tests.providers.test_off_session_billing import once
from tests.support.api_app import app_client
from tests.support.ledger import assert_ledger_invariants
from tests.support.worker import running_worker

MONTH = timedelta(days=31)


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """This module's own time-skipping server: months skipped here must not run on into
    the clock of another module's subscriptions (nor theirs into ours)."""
    async with time_skipping_env() as env:
        yield env


@pytest.fixture
async def merchant(time_env, engine, settings: Settings) -> AsyncIterator[tuple]:
    """The API (and a worker) on the sandbox gateway, for a tenant of its own."""
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", "Sandbox shop", None)
    with Session(engine) as session:
        secret = api_keys.create_key(session, "test", tenant.id).secret
    time_settings = settings.model_copy(
        update={"temporal_address": time_env.client.service_client.config.target_host}
    )
    headers = {"Authorization": f"Bearer {secret}"}
    async with (
        running_worker(time_env.client, time_settings, engine),
        app_client(time_settings, headers=headers, timeout=60) as client,
    ):
        yield tenant.id, client


async def saved_card(api: httpx.AsyncClient, token: str) -> tuple[dict, dict]:
    """A new customer with ``token`` saved at the sandbox; the customer as read after."""
    customer = (await api.post("/v1/customers", json={"name": "Ada"}, headers=once())).json()
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    saved = await api.post(path, json={"payment_method": token}, headers=once())
    assert saved.status_code == 201, saved.text
    return (await api.get(f"/v1/customers/{customer['customer_id']}")).json(), saved.json()


@contextlib.asynccontextmanager
async def subscription(time_env, tenant: str, api: httpx.AsyncClient, customer, method):
    """A monthly USD subscription charging the saved method; it and its payments are
    terminated after the test (a workflow left running, a succeeded payment waiting for
    refunds say, would hold the shared test server's clock)."""
    plan = {"name": "Pro", "amount": 1200, "currency": "USD", "interval": "month"}
    plan_id = (await api.post("/v1/plans", json=plan)).json()["plan_id"]
    body = {
        "customer_id": "shop-customer-9",
        "customer": customer["customer_id"],
        "plan_id": plan_id,
        "payment_method": method["payment_method_id"],
    }
    created = await api.post("/v1/subscriptions", json=body, headers=once())
    assert created.status_code == 201, created.text
    sub_id = created.json()["subscription_id"]
    sub_path = f"/v1/subscriptions/{sub_id}"
    try:
        yield sub_path
    finally:
        periods = (await api.get(sub_path)).json()["periods"]
        workflow_ids = [subscription_workflow_id(tenant, sub_id)] + [
            payment_workflow_id(tenant, attempt["payment_id"])
            for period in periods
            for attempt in period["attempts"]
        ]
        for workflow_id in workflow_ids:
            with contextlib.suppress(RPCError):
                await time_env.client.get_workflow_handle(workflow_id).terminate("test over")


async def at_gateway(gateway: httpx.AsyncClient, api: httpx.AsyncClient, payment_id: str):
    """The gateway's one charge of the payment (found by our id, a declined one too)."""
    payment = (await api.get(f"/v1/payments/{payment_id}")).json()
    assert payment["provider"] == "sandbox"
    [charge] = (await gateway.get("/v1/charges", params={"reference": payment_id})).json()["data"]
    return charge


async def test_a_card_saved_at_the_sandbox_is_a_method_of_the_customer_there(merchant, gateway):
    _, api = merchant
    customer, method = await saved_card(api, "tok_mastercard")

    sandbox_customer = customer["provider_customers"]["sandbox"]
    assert sandbox_customer.startswith("cus_")
    assert method["provider_reference"].startswith("pm_")
    assert (method["brand"], method["last4"], method["exp_year"]) == ("mastercard", "4444", 2034)
    assert method["fingerprint"]
    at_sandbox = (await gateway.get(f"/v1/payment_methods/{method['provider_reference']}")).json()
    assert (at_sandbox["customer"], at_sandbox["status"]) == (sandbox_customer, "attached")
    mirror = (await gateway.get(f"/v1/customers/{sandbox_customer}")).json()
    assert mirror["reference"] == customer["customer_id"]
    assert mirror["default_payment_method"] == method["provider_reference"]
    # A card the gateway refuses is not saved (its refusal is the client's 422).
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    refused = await api.post(path, json={"payment_method": "tok_chargeDeclined"}, headers=once())
    assert (refused.status_code, refused.json()["code"]) == (422, "payment_method_refused")
    assert len((await api.get(path)).json()["data"]) == 1


async def test_three_periods_charged_off_session_at_the_sandbox(
    merchant, time_env, gateway, engine
):
    tenant, api = merchant
    customer, method = await saved_card(api, "tok_visa")
    async with subscription(time_env, tenant, api, customer, method) as sub_path:
        # At least: the shared test server may skip time on its own while nothing runs.
        await eventually(api, sub_path, lambda s: s["next_period"] >= 1)
        for period in (2, 3):
            await time_env.sleep(MONTH)
            state = await eventually(api, sub_path, lambda s, n=period: s["next_period"] >= n)

        assert state["status"] == "active"
        assert len(state["periods"]) >= 3
        assert {p["status"] for p in state["periods"]} == {"paid"}
        for period in state["periods"]:
            charge = await at_gateway(gateway, api, period["payment_id"])
            assert (charge["customer"], charge["payment_method"], charge["off_session"]) == (
                customer["provider_customers"]["sandbox"],
                method["provider_reference"],
                True,
            )
            assert (charge["status"], charge["amount_captured"]) == ("captured", 1200)
    assert_ledger_invariants(engine)


async def test_off_session_a_3ds_card_is_declined_authentication_required_and_dunned(
    merchant, time_env, gateway, engine
):
    tenant, api = merchant
    customer, method = await saved_card(api, "tok_threeDSecureRequired")
    async with subscription(time_env, tenant, api, customer, method) as sub_path:
        state = await eventually(api, sub_path, lambda s: s["status"] == "past_due")
        period = state["periods"][0]
        attempt = period["attempts"][0]
        assert period["status"] == "past_due"
        assert (attempt["status"], attempt["failure_code"]) == (
            "declined",
            "authentication_required",
        )
        first_failed = datetime.fromisoformat(period["first_failed_at"])
        assert datetime.fromisoformat(state["next_retry_at"]) == first_failed + timedelta(days=1)
        charge = await at_gateway(gateway, api, attempt["payment_id"])
        assert (charge["status"], charge["next_action"]) == ("declined", None)
        assert charge["failure"]["code"] == "authentication_required"

        # Dunning charges it again a day later, off-session again: declined again.
        await time_env.sleep(timedelta(days=1, hours=1))
        state = await eventually(api, sub_path, lambda s: len(s["periods"][0]["attempts"]) == 2)
        retried = state["periods"][0]["attempts"][1]
        assert (retried["status"], retried["failure_code"]) == (
            "declined",
            "authentication_required",
        )
        assert retried["payment_id"] != attempt["payment_id"]
    assert_ledger_invariants(engine)


async def test_a_detached_card_is_refused_by_the_sandbox(merchant, time_env, gateway, engine):
    tenant, api = merchant
    customer, method = await saved_card(api, "tok_visa")
    async with subscription(time_env, tenant, api, customer, method) as sub_path:
        await eventually(api, sub_path, lambda s: s["periods"][0]["status"] == "paid")
        detach = f"/v1/customers/{customer['customer_id']}/payment-methods"
        gone = await api.delete(f"{detach}/{method['payment_method_id']}")
        assert (gone.status_code, gone.json()["status"]) == (200, "detached"), gone.text
        at_sandbox = (
            await gateway.get(f"/v1/payment_methods/{method['provider_reference']}")
        ).json()
        assert (at_sandbox["status"], at_sandbox["customer"]) == ("detached", None)

        # The subscription still names the card: the gateway refuses every charge of it,
        # dunning retries each (1, 3, 7 days) and, exhausted, cancels the subscription.
        await time_env.sleep(MONTH + timedelta(days=10))
        state = await eventually(api, sub_path, lambda s: s["status"] == "canceled")
        # The first period charged after the detach (the shared test server may have
        # skipped a month already while the detach was asked).
        period = state["periods"][-1]
        assert period["index"] >= 1
        assert period["status"] == "failed", state
        assert len(period["attempts"]) == 4
        for attempt in period["attempts"]:
            assert attempt["status"] == "failed", attempt
            assert "payment_method_not_reusable" in attempt["failure_message"], attempt
            # Refused before anything was made: the gateway holds no charge of it.
            found = await gateway.get("/v1/charges", params={"reference": attempt["payment_id"]})
            assert found.json()["data"] == []
        # Nor can a payment name it any more.
        payment = {
            "amount": 500,
            "currency": "USD",
            "customer_id": "shop-customer-9",
            "customer": customer["customer_id"],
            "payment_method": method["payment_method_id"],
        }
        refused = await api.post("/v1/payments", json=payment, headers=once())
        assert (refused.status_code, refused.json()["code"]) == (
            404,
            "saved_payment_method_not_found",
        )
    assert_ledger_invariants(engine)


async def test_the_customer_finishes_a_declined_off_session_charge_on_session(api, sandbox):
    """On the embedded stack (real time): the customer is there, so the same saved card is
    challenged at the gateway and the past-due period is paid."""
    customer, method = await saved_card(api, "tok_threeDSecureRequired")
    plan = {"name": "Pro", "amount": 1500, "currency": "USD", "interval": "month"}
    body = {
        "customer_id": "shop-customer-10",
        "customer": customer["customer_id"],
        "plan_id": (await api.post("/v1/plans", json=plan)).json()["plan_id"],
        "payment_method": method["payment_method_id"],
    }
    created = await api.post("/v1/subscriptions", json=body, headers=once())
    assert created.status_code == 201, created.text
    sub_path = f"/v1/subscriptions/{created.json()['subscription_id']}"
    state = await eventually(api, sub_path, lambda s: s["status"] == "past_due")
    assert state["periods"][0]["attempts"][0]["failure_code"] == "authentication_required"

    retried = await api.post(f"{sub_path}/retry-on-session")

    assert retried.status_code == 200, retried.text
    payment_id = retried.json()["periods"][0]["payment_id"]
    payment = await wait_for_status(api, payment_id, "requires_action")
    action = (await api.get(f"/v1/payments/{payment_id}/customer-action")).json()
    assert action["type"] == "redirect_to_url"
    charge = payment["provider_reference"]
    # What the challenge page's button does in the customer's browser.
    done = await sandbox.post(f"/v1/charges/{charge}/3ds/complete", json={"outcome": "succeed"})
    assert done.status_code == 200, done.text
    confirmed = await api.post(f"/v1/payments/{payment_id}/confirm")
    assert confirmed.status_code == 202, confirmed.text
    paid = await eventually(api, sub_path, lambda s: s["periods"][0]["status"] == "paid")
    assert paid["status"] == "active"
    at_sandbox = (await sandbox.get(f"/v1/charges/{charge}")).json()
    assert (at_sandbox["customer"], at_sandbox["payment_method"], at_sandbox["off_session"]) == (
        customer["provider_customers"]["sandbox"],
        method["provider_reference"],
        False,
    )
    await api.post(f"{sub_path}/cancel", json={})
