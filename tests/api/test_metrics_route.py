"""GET /metrics through the real app on a real SQLite database (no Temporal: none of these
routes reaches it)."""

import asyncio
from collections.abc import AsyncIterator
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy import event
from sqlmodel import Session

from schemas.store.tables import PaymentRecord
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal


@pytest.fixture
async def app(engine: Engine) -> AsyncIterator[FastAPI]:
    async with running_app(settings_without_temporal(engine)) as app:
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    """Every sample of /metrics, by (sample name, sorted labels)."""
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def add_payments(engine: Engine, *rows: tuple[str, str], first: int = 0) -> None:
    now = datetime.now(UTC)
    with Session(engine) as session, session.begin():
        for number, (status, provider) in enumerate(rows, start=first):
            session.add(
                PaymentRecord(
                    payment_id=f"pay_metrics{number:04d}",
                    tenant_id="t_metrics",
                    status=status,
                    customer_id="cus_metrics",
                    amount=1000,
                    currency="USD",
                    provider=provider,
                    capture_method="automatic",
                    state_json="{}",
                    created_at=now,
                    updated_at=now,
                )
            )


async def test_answers_prometheus_text_without_a_key(client):
    samples = await scrape(client)
    # The process and platform collectors come with the app's own metrics.
    assert ("process_cpu_seconds_total", ()) in samples
    assert any(name == "python_info" for name, _ in samples)


async def test_metrics_is_not_in_the_openapi_document(app):
    assert "/metrics" not in app.openapi()["paths"]


def payments_in(samples: dict[tuple[str, tuple], float]) -> dict[tuple[str, tuple], float]:
    return {key: value for key, value in samples.items() if key[0] == "paysaga_payments"}


async def scrape_until(client: httpx.AsyncClient, done, seconds: float = 10) -> dict:
    """Scrapes until ``done(samples)``: the gauge changes when its snapshot is refreshed."""
    async with asyncio.timeout(seconds):
        while True:
            samples = await scrape(client)
            if done(samples):
                return samples
            await asyncio.sleep(0.02)


async def test_payments_gauge_counts_the_read_model(engine):
    settings = settings_without_temporal(engine, metrics_refresh_interval=timedelta(seconds=0.05))
    async with running_app(settings) as app, asgi_client(app) as client:
        assert not payments_in(await scrape(client))
        add_payments(
            engine,
            ("succeeded", "sandbox"),
            ("succeeded", "sandbox"),
            ("declined", "sandbox"),
            ("succeeded", "stripe"),
        )

        samples = await scrape_until(client, payments_in)

    assert payments_in(samples) == {
        ("paysaga_payments", (("provider", "sandbox"), ("status", "succeeded"))): 2,
        ("paysaga_payments", (("provider", "sandbox"), ("status", "declined"))): 1,
        ("paysaga_payments", (("provider", "stripe"), ("status", "succeeded"))): 1,
    }


@contextmanager
def statements_on(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends while inside."""
    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_scrapes_read_the_last_snapshot_without_sql(engine):
    add_payments(engine, ("succeeded", "sandbox"))
    settings = settings_without_temporal(engine, metrics_refresh_interval=timedelta(hours=1))
    async with running_app(settings) as app, asgi_client(app) as client:
        # The snapshot taken at start.
        await scrape_until(client, payments_in)
        with statements_on(app.state.engine) as sent:
            for _ in range(20):
                samples = await scrape(client)
        assert len(sent) <= 1, sent
        # Not refreshed since: a payment added now is not counted until the next refresh.
        add_payments(engine, ("declined", "stripe"), first=1)
        assert (
            payments_in(await scrape(client))
            == payments_in(samples)
            == {("paysaga_payments", (("provider", "sandbox"), ("status", "succeeded"))): 1}
        )


async def test_requests_are_labelled_by_route_template(client):
    for _ in range(2):
        response = await client.get("/v1/payments/pay_000000000000000000000001")
        assert response.status_code == 401  # no key: answered after the route matched
    assert (await client.get("/no/such/route")).status_code == 404

    samples = await scrape(client)

    requests = {
        dict(labels)["route"]: value
        for (name, labels), value in samples.items()
        if name == "paysaga_http_requests_total"
    }
    assert requests["/v1/payments/{payment_id}"] == 2
    assert requests["unmatched"] == 1
    assert not any("pay_000000000000000000000001" in route for route in requests)
    status = (("method", "GET"), ("route", "/v1/payments/{payment_id}"), ("status", "401"))
    assert samples[("paysaga_http_requests_total", status)] == 2
    latency = (("method", "GET"), ("route", "/v1/payments/{payment_id}"))
    assert samples[("paysaga_http_request_duration_seconds_count", latency)] == 2


async def test_a_bad_webhook_signature_is_counted(client):
    before = await scrape(client)
    key = ("paysaga_webhook_verification_failures_total", (("provider", "sandbox"),))
    assert before.get(key, 0) == 0

    # The sandbox gateway sends no webhooks: no signature it gets can be good.
    response = await client.post("/v1/webhooks/sandbox", content=b'{"id": "evt_forged"}')
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_webhook_signature"

    assert (await scrape(client))[key] == 1


async def test_a_mounted_route_is_labelled_by_its_whole_template(client):
    # The codec's routes are mounted under /codec.
    response = await client.post(
        "/codec/decode", json={"payloads": []}, headers={"Authorization": "Bearer nope"}
    )
    assert response.status_code in (401, 404)

    labels = [dict(key) for name, key in await scrape(client) if name.startswith("paysaga_http")]
    assert {
        "method": "POST",
        "route": "/codec/decode",
        "status": str(response.status_code),
    } in labels


async def test_metrics_without_the_token_is_refused(engine: Engine) -> None:
    settings = settings_without_temporal(engine, metrics_token="scrape-secret")
    async with running_app(settings) as app, asgi_client(app) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        right = await client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    for refused in (missing, wrong):
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "metrics_unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200
    assert "paysaga_http_requests" in right.text
