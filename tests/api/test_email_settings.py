"""``/v1/email-settings`` and ``/v1/emails`` through the real app, on SQLite and PostgreSQL:
stored per tenant and replaced whole, bad input a 422 problem that writes nothing, another
tenant's settings and emails never seen."""

from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from api import api_keys
from schemas.email import EMAIL_KINDS
from schemas.email import EmailDeliveryInput
from schemas.store import emails
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal

SETTINGS = {
    "sender_address": "billing@shop.example",
    "sender_name": "Corner Shop",
    "reply_to": "help@shop.example",
    "logo_url": "https://shop.example/logo.png",
}


@pytest.fixture
async def shops(database_engine: Engine) -> AsyncIterator[list[tuple[str, httpx.AsyncClient]]]:
    """Two tenants of one app, each with its own key."""
    secrets = []
    for name in ("Mail shop", "Other shop"):
        with Session(database_engine) as session:
            tenant = api_keys.create_tenant(session, "test", name, None)
        with Session(database_engine) as session:
            secrets.append((tenant.id, api_keys.create_key(session, "test", tenant.id).secret))
    async with running_app(settings_without_temporal(database_engine)) as app:
        clients = [
            (tenant, asgi_client(app, headers={"Authorization": f"Bearer {secret}"}))
            for tenant, secret in secrets
        ]
        try:
            yield clients
        finally:
            for _, client in clients:
                await client.aclose()


async def test_settings_are_stored_per_tenant_and_replaced_whole(shops):
    (_, shop), (_, other) = shops
    assert (await shop.get("/v1/email-settings")).json()["code"] == "email_settings_not_found"

    first = await shop.put("/v1/email-settings", json=SETTINGS)
    assert first.status_code == 200, first.text
    assert first.json()["enabled_kinds"] == sorted(EMAIL_KINDS)
    replaced = await shop.put(
        "/v1/email-settings",
        json={**SETTINGS, "reply_to": None, "enabled_kinds": ["payment_receipt"]},
    )
    assert replaced.status_code == 200
    got = (await shop.get("/v1/email-settings")).json()
    assert got["reply_to"] is None and got["enabled_kinds"] == ["payment_receipt"]
    assert got["created_at"] == first.json()["created_at"]

    missing = await other.get("/v1/email-settings")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "changes",
    [
        {"sender_name": "Shop\r\nBcc: victim@example.com"},
        {"logo_url": "http://shop.example/logo.png"},
        {"sender_address": "nobody"},
        {"enabled_kinds": ["newsletter"]},
    ],
)
async def test_bad_settings_are_a_422_that_writes_nothing(shops, database_engine, changes):
    (tenant, shop), _ = shops
    answer = await shop.put("/v1/email-settings", json={**SETTINGS, **changes})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert "victim@example.com" not in answer.text
    with database_engine.connect() as connection:
        assert emails.get_settings(connection, tenant) is None


async def test_emails_of_an_event_are_the_tenant_s_own(shops, database_engine):
    (tenant, shop), (_, other) = shops
    event_id = "evt_0123456789abcdef01234567"
    email = EmailDeliveryInput(
        tenant_id=tenant,
        email_id="em_0123456789abcdef01234567",
        event_id=event_id,
        kind="payment_receipt",
    )
    with database_engine.begin() as connection:
        emails.start_message(connection, email, datetime.now(UTC))

    listed = (await shop.get("/v1/emails", params={"event_id": event_id})).json()["data"]
    assert [(e["email_id"], e["status"]) for e in listed] == [(email.email_id, "pending")]
    theirs = await other.get("/v1/emails", params={"event_id": event_id})
    assert theirs.status_code == 200 and theirs.json()["data"] == []
    bad = await shop.get("/v1/emails", params={"event_id": "evt_../../x"})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
