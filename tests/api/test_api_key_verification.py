"""How API keys are checked, through the real app on a real SQLite database: one keyed hash
per request whether the prefix is live or not, Argon2id only to upgrade a key issued before
the keyed hash, failed attempts refused per prefix and per address before any checking, and
an audit log that names the credential that acted. (No timings here: the cost is asserted
as the work done; its speed belongs to the bench.)"""

import hashlib
import hmac
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine
from sqlmodel import Session

from api import api_keys
from schemas.store.tables import ApiKey
from tests.support.api_app import app_client
from tests.support.api_app import settings_without_temporal

ADMIN_KEY = "adm_" + "x7Kq2" * 8
PEPPER = "pepper-" + "Zr4tW" * 8
PER_PREFIX = 3
PER_ADDRESS = 6
ROUTE = "/v1/providers/health"  # a tenant's route that never reaches Temporal


@pytest.fixture
async def admin(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_without_temporal(
        engine,
        admin_key=ADMIN_KEY,
        api_key_pepper=PEPPER,
        auth_failures_per_prefix=PER_PREFIX,
        auth_failures_per_address=PER_ADDRESS,
        auth_failure_refill="PT60S",
    )
    async with app_client(settings, headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as client:
        yield client


@pytest.fixture
def work(monkeypatch) -> Counter:
    """How many keyed hashes and Argon2id checks the API computed."""
    done: Counter = Counter()
    keyed, argon2_verify = getattr(api_keys, "keyed_digest", None), PasswordHasher.verify

    def counted_keyed(pepper, presented):
        done["keyed"] += 1
        return keyed(pepper, presented)

    def counted_argon2(self, hash, password):
        done["argon2"] += 1
        return argon2_verify(self, hash, password)

    monkeypatch.setattr(api_keys, "keyed_digest", counted_keyed, raising=False)
    monkeypatch.setattr(PasswordHasher, "verify", counted_argon2)
    return done


async def new_key(admin: httpx.AsyncClient) -> tuple[str, dict]:
    tenant = await admin.post("/v1/admin/tenants", json={"name": "Keyed shop"})
    assert tenant.status_code == 201, tenant.text
    key = await admin.post(f"/v1/admin/tenants/{tenant.json()['id']}/keys")
    assert key.status_code == 201, key.text
    return tenant.json()["id"], key.json()


async def call(admin: httpx.AsyncClient, secret: str) -> httpx.Response:
    return await admin.get(ROUTE, headers={"Authorization": f"Bearer {secret}"})


def forged(prefix: str | None = None) -> str:
    return f"sk_{prefix or secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


def stored(engine: Engine, key_id: str) -> ApiKey:
    with Session(engine) as session:
        return session.get(ApiKey, key_id)


def expected_digest(secret: str) -> str:
    return hmac.new(PEPPER.encode(), secret.encode(), hashlib.sha256).hexdigest()


async def test_a_forged_key_for_a_live_prefix_costs_what_an_unknown_prefix_costs(
    admin, engine, work
):
    _, key = await new_key(admin)
    for secret in (forged(key["prefix"]), forged()):
        work.clear()
        refused = await call(admin, secret)
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
        assert work == {"keyed": 1}  # one HMAC, never Argon2id: the same work either way

    work.clear()
    assert (await call(admin, key["secret"])).status_code == 200
    assert work == {"keyed": 1}
    row = stored(engine, key["id"])
    assert row.key_digest == expected_digest(key["secret"]) and row.secret_hash is None


async def test_repeated_failures_for_one_prefix_get_429_before_any_checking(admin, work):
    _, key = await new_key(admin)
    for _ in range(PER_PREFIX):
        assert (await call(admin, forged(key["prefix"]))).status_code == 401
    work.clear()

    refused = await call(admin, forged(key["prefix"]))

    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "too_many_failed_authentications"
    assert int(refused.headers["retry-after"]) >= 1
    assert work == {}  # refused before the key was read or hashed
    # Another prefix from the same address still gets its answer.
    assert (await call(admin, forged())).status_code == 401


async def test_repeated_failures_from_one_address_get_429_whatever_the_prefix(admin, work):
    await new_key(admin)
    for _ in range(PER_ADDRESS):
        assert (await call(admin, forged())).status_code == 401
    work.clear()

    refused = await call(admin, forged())
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == "too_many_failed_authentications"
    assert work == {}
    # Malformed keys count against the address too.
    assert (await call(admin, "sk_nope")).status_code == 429


async def test_a_legacy_argon2_key_authenticates_once_and_is_then_stored_as_the_keyed_hash(
    admin, engine, work
):
    tenant_id, _ = await new_key(admin)
    prefix = secrets.token_hex(6)
    secret = forged(prefix)
    key_id = f"key_{uuid.uuid4().hex[:24]}"
    with Session(engine) as session, session.begin():
        session.add(
            ApiKey(
                id=key_id,
                tenant_id=tenant_id,
                prefix=prefix,
                secret_hash=PasswordHasher().hash(secret),
                created_at=datetime.now(UTC),
            )
        )

    assert (await call(admin, forged(prefix))).status_code == 401  # a wrong secret: no upgrade
    assert stored(engine, key_id).key_digest is None
    work.clear()

    assert (await call(admin, secret)).status_code == 200
    assert work == {"keyed": 1, "argon2": 1}
    row = stored(engine, key_id)
    assert row.key_digest == expected_digest(secret) and row.secret_hash is None

    work.clear()
    assert (await call(admin, secret)).status_code == 200
    assert work == {"keyed": 1}
    audit = (await admin.get("/v1/admin/audit", params={"tenant_id": tenant_id})).json()["data"]
    assert [(e["action"], e["key_id"], e["actor"]) for e in audit][-1] == (
        "key.rehashed",
        key_id,
        "system",
    )


async def test_rotation_with_grace_works_and_the_audit_names_the_admin_credential(admin, work):
    tenant_id, key = await new_key(admin)
    rotated = await admin.post(
        f"/v1/admin/tenants/{tenant_id}/keys/{key['id']}/rotate",
        json={"grace_period_seconds": 3600},
    )
    assert rotated.status_code == 201, rotated.text
    assert (await call(admin, key["secret"])).status_code == 200
    assert (await call(admin, rotated.json()["secret"])).status_code == 200
    assert work["argon2"] == 0

    revoked = await admin.post(f"/v1/admin/tenants/{tenant_id}/keys/{key['id']}/revoke")
    assert revoked.status_code == 200
    assert (await call(admin, key["secret"])).status_code == 401
    assert (await call(admin, rotated.json()["secret"])).status_code == 200

    audit = (await admin.get("/v1/admin/audit", params={"tenant_id": tenant_id})).json()["data"]
    credential = "admin_key:" + hashlib.sha256(ADMIN_KEY.encode()).hexdigest()[:12]
    assert [(e["action"], e["actor"], e["credential"]) for e in audit] == [
        ("tenant.created", "admin", credential),
        ("key.created", "admin", credential),
        ("key.rotated", "admin", credential),
        ("key.created", "admin", credential),
        ("key.revoked", "admin", credential),
    ]
    assert ADMIN_KEY not in str(audit)
