"""Per-tenant quotas on what is created without moving money: at its limit a tenant's next
create is a 409 ``quota_exceeded`` naming the object and the limit, nothing is written, and
another tenant is not affected; concurrent creates cannot pass the limit. Through the real
app (and the sandbox gateway where the object is made at the provider), on SQLite and
PostgreSQL."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy import text
from sqlmodel import Session

from api import api_keys
from schemas.tenants import TenantQuotas
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal

LIMIT = 2
QUOTAS = TenantQuotas(
    rule_set_versions=LIMIT,
    customers=LIMIT,
    saved_payment_methods=LIMIT,
    plans=LIMIT,
    connected_accounts=LIMIT,
    invoices=LIMIT,
    webhook_endpoints=LIMIT,
)
INVOICE = {
    "customer_id": "cus_quota",
    "currency": "USD",
    "line_items": [{"description": "Seat", "quantity": 1, "unit_amount": 1_500}],
    "due_at": "2030-01-01T00:00:00Z",
}
# path, body, the table its rows land in, how the detail names them
CREATES = {
    "rule_set_versions": ("/v1/risk/rules", {"rules": []}, "risk_rule_sets", "rule set"),
    "customers": ("/v1/customers", {"name": "Ada"}, "customers", "customers"),
    "plans": (
        "/v1/plans",
        {"name": "Gold", "amount": 1_000, "currency": "USD", "interval": "month"},
        "plans",
        "plans",
    ),
    "invoices": ("/v1/invoices", INVOICE, "invoices", "invoices"),
    "webhook_endpoints": (
        "/v1/webhook-endpoints",
        {"url": "https://hooks.example.com/paysaga"},
        "webhook_endpoints",
        "webhook endpoints",
    ),
    "connected_accounts": (
        "/v1/connected-accounts",
        {"name": "Shop", "bank_account": "ba_quota"},
        "connected_accounts",
        "connected accounts",
    ),
}


@dataclass
class Merchant:
    tenant: str
    client: httpx.AsyncClient


@pytest.fixture
async def merchants(database_engine: Engine, gateway_url) -> AsyncIterator[list[Merchant]]:
    """Two tenants of one app whose quotas are all ``LIMIT``."""
    secrets = []
    for name in ("Quota shop", "Other shop"):
        with Session(database_engine) as session:
            tenant = api_keys.create_tenant(session, "test", name, None)
        with Session(database_engine) as session:
            secrets.append((tenant.id, api_keys.create_key(session, "test", tenant.id).secret))
    settings = settings_without_temporal(
        database_engine, quotas=QUOTAS, sandbox_gateway_url=gateway_url
    )
    async with running_app(settings) as app:
        clients = [
            asgi_client(app, headers={"Authorization": f"Bearer {secret}"}, timeout=60)
            for _, secret in secrets
        ]
        try:
            pairs = zip(secrets, clients, strict=True)
            yield [Merchant(tenant, client) for (tenant, _), client in pairs]
        finally:
            for client in clients:
                await client.aclose()


def rows_of(engine: Engine, table: str, tenant: str) -> int:
    with engine.connect() as connection:
        query = text(f"SELECT count(*) FROM {table} WHERE tenant_id = :tenant")  # noqa: S608
        return connection.execute(query, {"tenant": tenant}).scalar_one()


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def assert_quota_exceeded(response: httpx.Response, named: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "quota_exceeded"
    assert named in problem["detail"] and f"limit of {LIMIT} " in problem["detail"]


@pytest.mark.parametrize("kind", list(CREATES))
async def test_the_create_past_the_limit_is_refused_and_writes_nothing(
    merchants, database_engine, kind
):
    path, body, table, named = CREATES[kind]
    shop, other = merchants
    accepted = []
    for _ in range(LIMIT):
        headers = key()
        created = await shop.client.post(path, json=body, headers=headers)
        assert created.status_code == 201, created.text
        accepted.append((headers, created.json()))

    refused_key = key()
    refused = await shop.client.post(path, json=body, headers=refused_key)

    assert_quota_exceeded(refused, named)
    assert rows_of(database_engine, table, shop.tenant) == LIMIT
    # The refusal leaves its Idempotency-Key free: asked again, the quota is counted again.
    again = await shop.client.post(path, json=body, headers=refused_key)
    assert_quota_exceeded(again, named)
    assert "Idempotent-Replayed" not in again.headers
    # A retry of a create that was stored is answered as the first time, not refused.
    headers, first = accepted[-1]
    retried = await shop.client.post(path, json=body, headers=headers)
    assert (retried.status_code, retried.json()) == (201, first)
    # The other tenant's quota is its own.
    theirs = await other.client.post(path, json=body, headers=key())
    assert theirs.status_code == 201, theirs.text
    assert rows_of(database_engine, table, other.tenant) == 1


async def test_connected_accounts_past_the_limit_are_not_made_at_the_provider(merchants, gateway):
    path, body, _, named = CREATES["connected_accounts"]
    shop = merchants[0]
    for _ in range(LIMIT):
        created = await shop.client.post(path, json=body, headers=key())
        assert created.status_code == 201, created.text
    made = (await gateway.get("/v1/stats")).json()["operations"]["account"]

    refused = await shop.client.post(path, json=body, headers=key())

    assert_quota_exceeded(refused, named)
    assert (await gateway.get("/v1/stats")).json()["operations"]["account"] == made


@pytest.mark.parametrize("kind", ["rule_set_versions", "customers", "plans", "webhook_endpoints"])
async def test_concurrent_creates_cannot_pass_the_limit(merchants, database_engine, kind):
    path, body, table, _ = CREATES[kind]
    shop = merchants[0]

    answers = await asyncio.gather(
        *(shop.client.post(path, json=body, headers=key()) for _ in range(3 * LIMIT))
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * LIMIT + [409] * (2 * LIMIT), [a.text for a in answers]
    assert rows_of(database_engine, table, shop.tenant) == LIMIT


async def test_saved_payment_methods_past_the_limit_are_refused_before_the_provider(
    merchants, database_engine, gateway
):
    shop, other = merchants

    async def save(merchant: Merchant) -> httpx.Response:
        customer = await merchant.client.post("/v1/customers", json={}, headers=key())
        path = f"/v1/customers/{customer.json()['customer_id']}/payment-methods"
        return await merchant.client.post(path, json={"payment_method": "tok_visa"}, headers=key())

    first = await save(shop)
    assert first.status_code == 201, first.text
    path = f"/v1/customers/{first.json()['customer_id']}/payment-methods"
    second = await shop.client.post(path, json={"payment_method": "tok_visa"}, headers=key())
    assert second.status_code == 201, second.text

    refused = await shop.client.post(path, json={"payment_method": "tok_visa"}, headers=key())

    assert_quota_exceeded(refused, "saved payment methods")
    assert rows_of(database_engine, "saved_payment_methods", shop.tenant) == LIMIT
    customer = (await shop.client.get(f"/v1/customers/{first.json()['customer_id']}")).json()
    mirror = customer["provider_customers"]["sandbox"]
    at_provider = (await gateway.get(f"/v1/customers/{mirror}/payment_methods")).json()
    assert len(at_provider["data"]) == LIMIT, at_provider
    theirs = await save(other)
    assert theirs.status_code == 201, theirs.text
