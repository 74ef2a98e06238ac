"""Forged webhook deliveries through the real app on a real SQLite database: an address
whose deliveries keep failing their signature is refused before any verification (so it
cannot make the API call a provider's verification endpoint without bound), and other
addresses are not."""

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from activities.providers.base import PaymentProvider
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal

PER_ADDRESS = 3
FORGED = b'{"id": "evt_forged"}'


@pytest.fixture
async def app(engine: Engine) -> AsyncIterator[FastAPI]:
    settings = settings_without_temporal(
        engine, webhook_rejections_per_address=PER_ADDRESS, auth_failure_refill="PT60S"
    )
    async with running_app(settings) as app:
        yield app


async def deliver(app: FastAPI, address: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 40_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://paysaga") as client:
        return await client.post("/v1/webhooks/sandbox", content=FORGED)


async def test_an_address_sending_forged_webhooks_is_refused_before_verification(
    app: FastAPI, monkeypatch
) -> None:
    adapter: PaymentProvider = app.state.providers["sandbox"]
    verified = []
    original = adapter.verify_webhook

    async def counted(headers, body):
        verified.append(body)
        return await original(headers, body)

    monkeypatch.setattr(adapter, "verify_webhook", counted)
    for _ in range(PER_ADDRESS):
        response = await deliver(app, "203.0.113.7")
        assert response.json()["code"] == "invalid_webhook_signature"
    verified.clear()

    refused = await deliver(app, "203.0.113.7")

    assert refused.status_code == 429, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "too_many_rejected_webhooks"
    assert int(refused.headers["retry-after"]) >= 1
    assert verified == []  # nothing was verified, so nothing was asked of the provider
    # The provider's own address is not throttled by the forger's failures.
    assert (await deliver(app, "198.51.100.1")).json()["code"] == "invalid_webhook_signature"
