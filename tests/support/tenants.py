"""Tenants and keys made through the admin API, for the end-to-end tests."""

import uuid

import httpx

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
