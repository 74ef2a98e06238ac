"""Tenants and API keys through the real API: the README's flow, rotation, revocation, audit."""

import re
import uuid

import pytest
from sqlmodel import Session
from sqlmodel import select

from schemas.store.tables import ApiKey
from tests.support.tenants import PAYMENT
from tests.support.tenants import bearer
from tests.support.tenants import new_tenant


async def test_create_pay_rotate_and_the_old_key_is_refused(admin, anonymous):
    tenant_id, key = await new_tenant(admin)
    assert key["secret"].startswith("sk_") and key["status"] == "active"

    paid = await anonymous.post(
        "/v1/payments", json=PAYMENT, headers={**bearer(key), "Idempotency-Key": "k-1"}
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["tenant_id"] == tenant_id
    payment_path = f"/v1/payments/{paid.json()['payment_id']}"

    rotated = await admin.post(f"/v1/admin/tenants/{tenant_id}/keys/{key['id']}/rotate")
    assert rotated.status_code == 201, rotated.text
    new_key = rotated.json()

    refused = await anonymous.get(payment_path, headers=bearer(key))
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_api_key"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert (await anonymous.get(payment_path, headers=bearer(new_key))).status_code == 200

    keys = (await admin.get(f"/v1/admin/tenants/{tenant_id}/keys")).json()["data"]
    assert [(k["id"], k["status"], k["replaced_by"]) for k in keys] == [
        (key["id"], "expired", new_key["id"]),
        (new_key["id"], "active", None),
    ]
    audit = (await admin.get("/v1/admin/audit", params={"tenant_id": tenant_id})).json()["data"]
    assert [(e["action"], e["key_id"], e["actor"]) for e in audit] == [
        ("tenant.created", None, "admin"),
        ("key.created", key["id"], "admin"),
        ("key.rotated", key["id"], "admin"),
        ("key.created", new_key["id"], "admin"),
    ]


async def test_a_grace_period_keeps_the_old_key_until_a_revocation_ends_it_at_once(
    admin, anonymous
):
    tenant_id, key = await new_tenant(admin)
    rotated = await admin.post(
        f"/v1/admin/tenants/{tenant_id}/keys/{key['id']}/rotate",
        json={"grace_period_seconds": 3600},
    )
    assert rotated.status_code == 201, rotated.text
    assert (await anonymous.get("/v1/payments", headers=bearer(key))).status_code == 200

    revoked = await admin.post(f"/v1/admin/tenants/{tenant_id}/keys/{key['id']}/revoke")
    assert revoked.json()["status"] == "revoked"
    assert (await anonymous.get("/v1/payments", headers=bearer(key))).status_code == 401
    new_key = rotated.json()
    assert (await anonymous.get("/v1/payments", headers=bearer(new_key))).status_code == 200
    actions = [
        e["action"]
        for e in (await admin.get("/v1/admin/audit", params={"tenant_id": tenant_id})).json()[
            "data"
        ]
    ]
    assert actions[-1] == "key.revoked"


async def test_only_the_keyed_hash_is_stored_and_no_listing_shows_a_secret(admin, stack_db):
    tenant_id, key = await new_tenant(admin)
    with Session(stack_db) as session:
        row = session.exec(select(ApiKey).where(ApiKey.id == key["id"])).one()
    assert re.fullmatch(r"[0-9a-f]{64}", row.key_digest) and row.secret_hash is None
    assert key["secret"].split("_", 2)[2] not in row.key_digest  # the secret part may hold "_"
    listing = (await admin.get(f"/v1/admin/tenants/{tenant_id}/keys")).text
    assert key["secret"] not in listing and row.key_digest not in listing
    assert "secret" not in listing


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer nope", "Bearer sk_000000000000_" + "A" * 43, "Basic dXNlcjpwYXNz"],
)
async def test_requests_without_a_valid_key_get_401_and_change_nothing(
    anonymous, stack_db, authorization
):
    headers = {"Idempotency-Key": f"anon-{uuid.uuid4().hex}"}
    if authorization:
        headers["Authorization"] = authorization
    response = await anonymous.post("/v1/payments", json=PAYMENT, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("missing_api_key", "invalid_api_key")


async def test_the_admin_api_takes_only_the_admin_key(stack, anonymous, admin):
    _, key = await new_tenant(admin)
    for headers in ({}, bearer(key), {"Authorization": "Bearer wrong"}):
        response = await anonymous.post("/v1/admin/tenants", json={"name": "x"}, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "invalid_admin_key"
    taken = await admin.post("/v1/admin/tenants", json={"id": "ten_default", "name": "again"})
    assert taken.status_code == 409
