"""Three monthly periods of a subscription charged off-session at Stripe (localstripe) with
the customer's saved card, months passing in seconds: the real API app (in process, over
ASGI) and an in-process worker on the time-skipping Temporal server, the real Stripe adapter
and a SQLite database. Each charge is a PaymentIntent at Stripe for the customer's Stripe
Customer and its attached PaymentMethod."""

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr
from sqlmodel import Session
from temporalio.service import RPCError

from api import api_keys
from schemas.identity import subscription_workflow_id
from schemas.runtime.settings import Settings
from tests.providers.conftest import stripe_object
from tests.support.api_app import app_client
from tests.support.localstripe import CARD_OK
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.localstripe import card_payment_method
from tests.support.worker import running_worker


def once() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


@pytest.fixture
async def merchant(time_env, engine, settings: Settings, localstripe) -> AsyncIterator[tuple]:
    """The API (and a worker) with Stripe on localstripe, for a tenant of its own."""
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", "Billing shop", None)
    with Session(engine) as session:
        secret = api_keys.create_key(session, "test", tenant.id).secret
    stripe_settings = settings.model_copy(
        update={
            "stripe_api_key": SecretStr(LOCALSTRIPE_API_KEY),
            "stripe_api_base": localstripe,
            "temporal_address": time_env.client.service_client.config.target_host,
        }
    )
    headers = {"Authorization": f"Bearer {secret}"}
    async with (
        running_worker(time_env.client, stripe_settings, engine),
        app_client(stripe_settings, headers=headers, timeout=60) as client,
    ):
        yield tenant.id, client


async def eventually(api: httpx.AsyncClient, path: str, check, seconds: float = 60) -> dict:
    async with asyncio.timeout(seconds):
        while True:
            state = (await api.get(path)).json()
            if check(state):
                return state
            await asyncio.sleep(0.1)


async def test_three_periods_charged_off_session_at_stripe(merchant, time_env, localstripe):
    tenant, api = merchant
    customer = (await api.post("/v1/customers", json={"name": "Ada"}, headers=once())).json()
    card = await card_payment_method(localstripe, CARD_OK)
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    method = (await api.post(path, json={"payment_method": card}, headers=once())).json()
    stripe_customer = (await api.get(f"/v1/customers/{customer['customer_id']}")).json()[
        "provider_customers"
    ]["stripe"]
    plan = {"name": "Pro", "amount": 1200, "currency": "USD", "interval": "month"}
    plan_id = (await api.post("/v1/plans", json=plan)).json()["plan_id"]
    body = {
        "customer_id": "shop-customer-3",
        "customer": customer["customer_id"],
        "plan_id": plan_id,
        "payment_method": method["payment_method_id"],
    }
    created = await api.post("/v1/subscriptions", json=body, headers=once())
    assert created.status_code == 201, created.text
    sub_id = created.json()["subscription_id"]
    sub_path = f"/v1/subscriptions/{sub_id}"
    try:
        await eventually(api, sub_path, lambda s: s["next_period"] == 1)
        for period in (2, 3):
            await time_env.sleep(timedelta(days=31))
            state = await eventually(api, sub_path, lambda s, n=period: s["next_period"] == n)

        assert state["status"] == "active"
        assert [p["status"] for p in state["periods"]] == ["paid", "paid", "paid"]
        for period in state["periods"]:
            payment = (await api.get(f"/v1/payments/{period['payment_id']}")).json()
            assert (payment["provider"], payment["status"]) == ("stripe", "succeeded")
            intent = await stripe_object(
                localstripe, f"/v1/payment_intents/{payment['provider_reference']}"
            )
            assert (intent["customer"], intent["payment_method"]) == (
                stripe_customer,
                method["provider_reference"],
            )
            assert (intent["status"], intent["amount"], intent["currency"]) == (
                "succeeded",
                1200,
                "usd",
            )
    finally:
        # A subscription left running would hold the shared test server's clock.
        handle = time_env.client.get_workflow_handle(subscription_workflow_id(tenant, sub_id))
        with contextlib.suppress(RPCError):
            await handle.terminate("test over")
