"""Tenants and keys made through the admin API, for the end-to-end tests."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from tests.support.embedded_stack import api_client
from workers.stack import EmbeddedStack

PAYMENT = {
    "amount": 1999,
    "currency": "USD",
    "customer_id": "cus_keys",
    "payment_method": "tok_visa",
}


async def new_tenant(admin: httpx.AsyncClient) -> tuple[str, dict]:
    tenant = await admin.post("/v1/admin/tenants", json={"name": f"Shop {uuid.uuid4().hex[:6]}"})
    assert tenant.status_code == 201, tenant.text
    tenant_id = tenant.json()["id"]
    key = await admin.post(f"/v1/admin/tenants/{tenant_id}/keys")
    assert key.status_code == 201, key.text
    return tenant_id, key.json()


def bearer(key: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['secret']}"}


@asynccontextmanager
async def tenant_client(
    stack: EmbeddedStack, admin: httpx.AsyncClient
) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A new tenant's id and a client of the API with its key."""
    tenant_id, key = await new_tenant(admin)
    async with api_client(stack, bearer(key)) as client:
        yield tenant_id, client
