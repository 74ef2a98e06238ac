"""With the sandbox switched off (``PAYSAGA_SANDBOX_ENABLED=false``, as in production), the
real app on a real SQLite database refuses every request that names it, before anything is
stored, and does not offer it. Temporal is the real dev server: the refusals come before
any saga starts, and none is left behind."""

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from sqlmodel import select

from api import api_keys
from schemas.store.tables import ConnectedAccountRecord
from tests.support.api_app import app_client
from tests.support.api_app import settings_without_temporal


@pytest.fixture
async def merchant(engine: Engine, local_env) -> AsyncIterator[httpx.AsyncClient]:
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", "Live shop", None)
    with Session(engine) as session:
        secret = api_keys.create_key(session, "test", tenant.id).secret
    settings = settings_without_temporal(
        engine,
        sandbox_enabled=False,
        temporal_address=local_env.client.service_client.config.target_host,
    )
    headers = {"Authorization": f"Bearer {secret}"}
    async with app_client(settings, headers=headers) as client:
        yield client


PAYMENT = {"amount": 1999, "currency": "USD", "payment_method": "tok_visa", "customer_id": "cus_1"}


def once() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def test_a_payment_naming_the_sandbox_is_refused(merchant):
    body = PAYMENT | {"provider": "sandbox"}
    response = await merchant.post("/v1/payments", json=body, headers=once())
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "no_eligible_provider"
    assert (await merchant.get("/v1/payments")).json()["data"] == []


async def test_routing_never_picks_the_sandbox(merchant):
    # The default route is the sandbox; with it off and no other provider configured here,
    # nothing can take the payment.
    body = PAYMENT
    response = await merchant.post("/v1/payments", json=body, headers=once())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "no_eligible_provider"
    assert (await merchant.get("/v1/payments")).json()["data"] == []


async def test_a_connected_account_at_the_sandbox_is_refused_and_nothing_stored(merchant, engine):
    body = {"name": "Seller GmbH", "bank_account": "ba_ok", "provider": "sandbox"}
    response = await merchant.post("/v1/connected-accounts", json=body, headers=once())
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "provider_disabled"
    assert (await merchant.get("/v1/connected-accounts")).json()["data"] == []
    with Session(engine) as session:
        assert session.exec(select(ConnectedAccountRecord)).all() == []


async def test_the_sandbox_is_not_offered(merchant):
    health = await merchant.get("/v1/providers/health")
    assert health.status_code == 200, health.text
    assert [row["provider"] for row in health.json()["data"]] == []
    webhook = await merchant.post("/v1/webhooks/sandbox", content=b"{}")
    assert webhook.status_code == 404
    assert webhook.json()["code"] == "provider_not_configured"
