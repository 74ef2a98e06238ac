"""GET /v1/providers/health through the real app on a real SQLite database (no Temporal:
the API connects to it lazily, and this route never does)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from activities.circuit_breaker import CircuitBreaker
from api import api_keys
from schemas.runtime.settings import Settings
from schemas.store.tables import WebhookRejectionRecord
from tests.support.api_app import app_client
from tests.support.api_app import settings_without_temporal


@pytest.fixture
async def client(engine: Engine) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings_without_temporal(engine, breaker_failure_threshold=2)) as client:
        yield client


def new_key(engine: Engine, name: str = "Health shop") -> str:
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", name, None)
    with Session(engine) as session:
        return api_keys.create_key(session, "test", tenant.id).secret


async def test_a_key_is_required(client):
    response = await client.get("/v1/providers/health")
    assert response.status_code == 401
    assert response.json()["code"] == "missing_api_key"
    response = await client.get(
        "/v1/providers/health", headers={"Authorization": "Bearer sk_000000000000_nope"}
    )
    assert response.status_code == 401


async def test_configured_providers_with_their_circuits(client, engine):
    breaker = CircuitBreaker(engine, failure_threshold=2, open_for=Settings().breaker_open_for)
    breaker.record_failure("sandbox", "gateway returned 503")
    breaker.record_failure("sandbox", "gateway returned 503")
    with engine.begin() as connection:
        connection.execute(
            WebhookRejectionRecord.__table__.insert().values(provider="sandbox", rejected=3)
        )

    response = await client.get(
        "/v1/providers/health", headers={"Authorization": f"Bearer {new_key(engine)}"}
    )

    assert response.status_code == 200, response.text
    [sandbox] = response.json()["data"]  # only sandbox is configured in these settings
    assert sandbox["provider"] == "sandbox"
    assert sandbox["state"] == "open"
    assert sandbox["consecutive_failures"] == 2
    assert sandbox["last_error"] == "gateway returned 503"
    assert sandbox["webhook_signature_failures"] == 3
    assert sandbox["opened_at"] is not None


async def test_another_tenants_ids_never_show_in_the_last_error(client, engine):
    """The breaker is shared: what one tenant's payment met is shown to every tenant, so
    only what kind of failure it was, never whose payment, key or address."""
    first = new_key(engine, "First shop")
    breaker = CircuitBreaker(engine, failure_threshold=2, open_for=Settings().breaker_open_for)
    failure = (
        "sandbox authorize: 502 gateway_error, outcome unknown: charge ch_3Qx7LmZ2a9 for"
        " pay_0123456789abcdef01234567 (key pay_0123456789abcdef01234567:authorize,"
        " tenant ten_first_shop, workflow ten_first_shop:payment:pay_0123456789abcdef01234567)"
        " via https://gateway.internal:8443/v1/charges?customer=cus_alice from 10.0.3.7"
        " for alice@example.com 8c1d2f9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f"
    )
    breaker.record_failure("sandbox", failure)
    second = new_key(engine, "Second shop")

    for key in (first, second):
        response = await client.get(
            "/v1/providers/health", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200, response.text
        [sandbox] = response.json()["data"]
        shown = sandbox["last_error"]
        for private in (
            "ch_3Qx7LmZ2a9",
            "0123456789abcdef01234567",
            "ten_first_shop",
            "gateway.internal",
            "8443",
            "cus_alice",
            "10.0.3.7",
            "alice@example.com",
            "8c1d2f9e",
        ):
            assert private not in shown, (private, shown)
        # What kind of failure it was stays readable.
        assert shown.startswith("sandbox authorize: 502 gateway_error, outcome unknown"), shown
