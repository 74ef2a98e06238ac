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
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session

from api import api_keys
from schemas.store.tables import ApiKey
from tests.support.api_app import app_client
from tests.support.api_app import running_app
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


ADMIN_PER_ADDRESS = 4
ADMIN_PER_CREDENTIAL = 8
ADMIN_WINDOW = 300
WRONG_ADMIN = {"Authorization": "Bearer adm_" + "guess" * 8}
ADMIN_ROUTE = "/v1/admin/audit"  # answers 200 without any tenant


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def admin_app(engine: Engine) -> AsyncIterator[tuple[FastAPI, Clock]]:
    """The app with the admin lockout's own, smaller limits, on a clock the test moves."""
    settings = settings_without_temporal(
        engine,
        admin_key=ADMIN_KEY,
        admin_auth_failures_per_address=ADMIN_PER_ADDRESS,
        admin_auth_failures_per_credential=ADMIN_PER_CREDENTIAL,
        admin_auth_failure_window=f"PT{ADMIN_WINDOW}S",
    )
    clock = Clock()
    async with running_app(settings) as app:
        app.state.admin_auth_failures.clock = clock
        yield app, clock


def admin_from(app: FastAPI, address: str = "198.51.100.7") -> httpx.AsyncClient:
    """An admin client whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    return httpx.AsyncClient(transport=transport, base_url="http://paysaga", headers=headers)


async def test_wrong_admin_keys_lock_the_admin_api_out_until_the_window_passes(admin_app):
    app, clock = admin_app
    async with admin_from(app) as admin, admin_from(app, "198.51.100.8") as elsewhere:
        for _ in range(ADMIN_PER_ADDRESS):
            wrong = await admin.get(ADMIN_ROUTE, headers=WRONG_ADMIN)
            assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_admin_key"

        # Locked out for the address, not just the guess: the right key waits too.
        for headers in (WRONG_ADMIN, {}):
            locked = await admin.get(ADMIN_ROUTE, headers=headers)
            assert locked.status_code == 429, locked.text
            assert locked.headers["content-type"] == "application/problem+json"
            assert locked.json()["code"] == "too_many_failed_admin_authentications"
            assert 1 <= int(locked.headers["retry-after"]) <= ADMIN_WINDOW
        # Another address still gets in.
        assert (await elsewhere.get(ADMIN_ROUTE)).status_code == 200

        clock.now += ADMIN_WINDOW - 1
        assert (await admin.get(ADMIN_ROUTE)).status_code == 429
        clock.now += 1
        assert (await admin.get(ADMIN_ROUTE)).status_code == 200


async def test_wrong_admin_keys_from_many_addresses_lock_the_admin_credential_out(admin_app):
    app, clock = admin_app
    for n in range(ADMIN_PER_CREDENTIAL):  # one failure each: no address reaches its limit
        async with admin_from(app, f"203.0.113.{n}") as guesser:
            assert (await guesser.get(ADMIN_ROUTE, headers=WRONG_ADMIN)).status_code == 401

    async with admin_from(app) as admin:
        locked = await admin.get(ADMIN_ROUTE)
        assert locked.status_code == 429
        assert locked.json()["code"] == "too_many_failed_admin_authentications"
        clock.now += ADMIN_WINDOW
        assert (await admin.get(ADMIN_ROUTE)).status_code == 200


async def test_tenant_key_failures_do_not_lock_the_admin_api_out(admin):
    # The admin API has buckets of its own: an address out of tenant-key attempts reaches it.
    for _ in range(PER_ADDRESS):
        assert (await call(admin, forged())).status_code == 401
    assert (await call(admin, forged())).status_code == 429
    assert (await admin.get(ADMIN_ROUTE)).status_code == 200
