"""Webhook endpoints, their deliveries and the events API through the real app, on SQLite
and PostgreSQL: what a tenant registers, changes and reads is its own alone, a secret is
shown once, a URL no delivery may go to is refused before anything is stored. The manual
retry of a delivery starts its saga on the real Temporal dev server (no worker needed to
see it started)."""

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from sqlmodel import Session
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from api import api_keys
from schemas.identity import webhook_delivery_id
from schemas.identity import webhook_delivery_workflow_id
from schemas.store import webhook_endpoints as store
from schemas.store.events import write_event
from schemas.store.tables import WebhookAttemptRecord
from schemas.store.tables import WebhookDeliveryRecord
from schemas.store.tables import WebhookEndpointRecord
from schemas.webhook_endpoints import DeliveryInput
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal
from tests.support.response_scan import RESPONSE_HOOKS

ENDPOINT = {"url": "https://hooks.example.com/paysaga", "enabled_events": ["payment.succeeded"]}
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@dataclass
class Merchant:
    tenant: str
    client: httpx.AsyncClient


def new_secret(engine: Engine, name: str) -> tuple[str, str]:
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", name, None)
    with Session(engine) as session:
        return tenant.id, api_keys.create_key(session, "test", tenant.id).secret


@asynccontextmanager
async def two_merchants(engine: Engine, **overrides: Any) -> AsyncIterator[list[Merchant]]:
    """Two tenants of one app with ``overrides`` in its settings."""
    keys = [new_secret(engine, name) for name in ("Hook shop", "Other shop")]
    async with running_app(settings_without_temporal(engine, **overrides)) as app:
        clients = [
            asgi_client(
                app, headers={"Authorization": f"Bearer {secret}"}, event_hooks=RESPONSE_HOOKS
            )
            for _, secret in keys
        ]
        try:
            pairs = zip(keys, clients, strict=True)
            yield [Merchant(tenant, client) for (tenant, _), client in pairs]
        finally:
            for client in clients:
                await client.aclose()


@pytest.fixture
async def merchants(database_engine: Engine) -> AsyncIterator[list[Merchant]]:
    async with two_merchants(database_engine) as merchants:
        yield merchants


async def create(client: httpx.AsyncClient, body: dict | None = None) -> dict:
    response = await client.post("/v1/webhook-endpoints", json=body or ENDPOINT)
    assert response.status_code == 201, response.text
    return response.json()


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code
    return problem


def endpoint_rows(engine: Engine) -> int:
    with engine.connect() as connection:
        query = select(func.count()).select_from(WebhookEndpointRecord.__table__)
        return connection.execute(query).scalar_one()


def stored_endpoint(engine: Engine, tenant: str, endpoint_id: str) -> Any:
    with engine.connect() as connection:
        return store.get_record(connection, tenant, endpoint_id)


# ------------------------------------------------------------------ endpoints


async def test_an_endpoint_is_created_with_a_standard_webhooks_secret_shown_once(
    merchants, database_engine
):
    shop = merchants[0]

    created = await create(shop.client, ENDPOINT | {"description": "orders"})

    assert created["id"].startswith("we_")
    assert created["url"] == ENDPOINT["url"]
    assert created["enabled_events"] == ["payment.succeeded"]
    assert (created["status"], created["description"]) == ("enabled", "orders")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    # What a receiver verifies with: the Standard Webhooks package takes it as it is.
    receiver, now = Webhook(secret), datetime.now(UTC)
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": receiver.sign("msg_1", now, '{"ok":true}'),
    }
    assert receiver.verify('{"ok":true}', headers) == {"ok": True}
    assert stored_endpoint(database_engine, shop.tenant, created["id"]).secret == secret

    fetched = await shop.client.get(f"/v1/webhook-endpoints/{created['id']}")
    listed = await shop.client.get("/v1/webhook-endpoints")

    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["secret"] is None
    assert fetched.json() == created | {"secret": None}
    assert listed.json()["data"] == [fetched.json()]
    assert secret not in fetched.text + listed.text


async def test_the_default_subscription_is_every_event(merchants):
    created = await create(merchants[0].client, {"url": ENDPOINT["url"]})
    assert created["enabled_events"] == ["*"]


async def test_endpoints_are_listed_newest_first(merchants):
    shop = merchants[0]
    first = await create(shop.client)
    second = await create(shop.client)

    listed = (await shop.client.get("/v1/webhook-endpoints")).json()["data"]

    assert [endpoint["id"] for endpoint in listed] == [second["id"], first["id"]]


async def test_a_retried_create_under_its_idempotency_key_makes_one_endpoint(
    merchants, database_engine
):
    shop = merchants[0]
    headers = {"Idempotency-Key": uuid.uuid4().hex}

    first = await shop.client.post("/v1/webhook-endpoints", json=ENDPOINT, headers=headers)
    again = await shop.client.post("/v1/webhook-endpoints", json=ENDPOINT, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert endpoint_rows(database_engine) == 1


@pytest.mark.parametrize(
    "events",
    [["payment.exploded"], ["nothing.*"], [], ["*", "refund.nope"]],
)
async def test_unknown_event_types_are_refused(merchants, database_engine, events):
    response = await merchants[0].client.post(
        "/v1/webhook-endpoints", json=ENDPOINT | {"enabled_events": events}
    )

    problem = assert_problem(response, 422, "validation_error")
    assert problem["errors"][0]["field"].startswith("enabled_events")
    assert "exploded" not in response.text and "nope" not in response.text
    assert endpoint_rows(database_engine) == 0


async def test_patch_changes_only_the_fields_sent(merchants):
    shop = merchants[0]
    created = await create(shop.client, ENDPOINT | {"description": "orders"})
    path = f"/v1/webhook-endpoints/{created['id']}"

    changed = await shop.client.patch(path, json={"enabled_events": ["refund.*", "payout.paid"]})

    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["enabled_events"] == ["payout.paid", "refund.*"]
    assert (body["url"], body["description"], body["status"]) == (
        ENDPOINT["url"],
        "orders",
        "enabled",
    )
    assert body["secret"] is None
    assert body["updated_at"] > created["updated_at"]

    moved = await shop.client.patch(path, json={"url": "https://other.example.com/h"})
    cleared = await shop.client.patch(path, json={"description": None, "url": None})

    assert moved.json()["url"] == "https://other.example.com/h"
    assert cleared.json()["description"] is None
    assert cleared.json()["url"] == "https://other.example.com/h"
    nothing = await shop.client.patch(path, json={})
    assert nothing.json() == cleared.json()


async def test_disabling_and_enabling_again_resets_the_failure_clock(merchants, database_engine):
    shop = merchants[0]
    created = await create(shop.client)
    path = f"/v1/webhook-endpoints/{created['id']}"
    with database_engine.begin() as connection:
        connection.execute(
            WebhookEndpointRecord.__table__.update()
            .where(WebhookEndpointRecord.__table__.c.endpoint_id == created["id"])
            .values(failing_since=T0)
        )

    disabled = await shop.client.patch(path, json={"disabled": True})

    assert disabled.status_code == 200, disabled.text
    assert (disabled.json()["status"], disabled.json()["disabled_reason"]) == (
        "disabled",
        "disabled by the tenant",
    )

    enabled = await shop.client.patch(path, json={"disabled": False})

    assert (enabled.json()["status"], enabled.json()["disabled_reason"]) == ("enabled", None)
    assert stored_endpoint(database_engine, shop.tenant, created["id"]).failing_since is None


async def test_delete_removes_the_endpoint_its_deliveries_and_their_attempts(
    merchants, database_engine
):
    shop = merchants[0]
    doomed = await create(shop.client)
    kept = await create(shop.client)
    insert_delivery(database_engine, shop.tenant, doomed["id"], "evt_1", "failed", attempts=2)
    insert_delivery(database_engine, shop.tenant, kept["id"], "evt_1", "failed", attempts=1)

    deleted = await shop.client.delete(f"/v1/webhook-endpoints/{doomed['id']}")

    assert (deleted.status_code, deleted.content) == (204, b"")
    gone = await shop.client.get(f"/v1/webhook-endpoints/{doomed['id']}")
    assert_problem(gone, 404, "webhook_endpoint_not_found")
    assert_problem(
        await shop.client.delete(f"/v1/webhook-endpoints/{doomed['id']}"),
        404,
        "webhook_endpoint_not_found",
    )
    with database_engine.connect() as connection:
        deliveries = connection.execute(select(WebhookDeliveryRecord.__table__)).all()
        attempts = connection.execute(select(WebhookAttemptRecord.__table__)).all()
    assert [row.endpoint_id for row in deliveries] == [kept["id"]]
    assert [row.delivery_id for row in attempts] == [deliveries[0].delivery_id]


# ------------------------------------------------------------------ URLs


REFUSED_URLS = [
    ("http://hooks.example.com/paysaga", "the URL must be https"),
    ("https://127.0.0.1/hook", "non-public address (127.0.0.1)"),
    ("https://169.254.169.254/latest/meta-data", "non-public address (169.254.169.254)"),
    ("https://localhost:8443/hook", "the URL's host is local"),
    ("https://[::ffff:10.0.0.1]/hook", "non-public address (10.0.0.1)"),
    ("https://user:pw@hooks.example.com/", "the URL must not carry credentials"),
    ("ftp://hooks.example.com/x", "the URL must be https"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED_URLS)
async def test_a_url_no_delivery_may_go_to_is_refused_and_nothing_is_stored(
    merchants, database_engine, url, reason
):
    shop = merchants[0]

    refused = await shop.client.post("/v1/webhook-endpoints", json=ENDPOINT | {"url": url})

    problem = assert_problem(refused, 422, "invalid_webhook_url")
    assert reason in problem["detail"]
    assert endpoint_rows(database_engine) == 0

    created = await create(shop.client)
    path = f"/v1/webhook-endpoints/{created['id']}"
    patched = await shop.client.patch(path, json={"url": url, "description": "changed"})

    assert_problem(patched, 422, "invalid_webhook_url")
    unchanged = (await shop.client.get(path)).json()
    assert (unchanged["url"], unchanged["description"]) == (ENDPOINT["url"], None)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9000/hook", "https://169.254.169.254/x", "http://localhost:8000/h"],
)
async def test_local_development_may_register_private_urls(engine, url):
    async with two_merchants(engine, webhook_allow_private_urls=True) as (shop, _):
        created = await create(shop.client, ENDPOINT | {"url": url})
    assert created["url"] == url


# ------------------------------------------------------------------ secret rotation


async def test_rotation_signs_with_both_secrets_during_the_overlap_only(merchants, database_engine):
    shop = merchants[0]
    created = await create(shop.client)
    path = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"

    rotated = await shop.client.post(path, json={"overlap_seconds": 3600})

    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    new, old = body["secret"], created["secret"]
    assert new.startswith("whsec_") and new != old
    expires_at = datetime.fromisoformat(body["previous_secret_expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(hours=1)
    fetched = await shop.client.get(f"/v1/webhook-endpoints/{created['id']}")
    assert new not in fetched.text and old not in fetched.text
    record = stored_endpoint(database_engine, shop.tenant, created["id"])
    assert store.signing_secrets(record, expires_at - timedelta(seconds=1)) == [new, old]
    assert store.signing_secrets(record, expires_at) == [new]
    assert store.signing_secrets(record, expires_at + timedelta(days=1)) == [new]


async def test_a_rotation_without_overlap_retires_the_old_secret_at_once(
    merchants, database_engine
):
    shop = merchants[0]
    created = await create(shop.client)
    path = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"

    rotated = (await shop.client.post(path, json={"overlap_seconds": 0})).json()

    assert rotated["previous_secret_expires_at"] is None
    record = stored_endpoint(database_engine, shop.tenant, created["id"])
    assert store.signing_secrets(record, datetime.now(UTC)) == [rotated["secret"]]


async def test_a_rotation_without_a_body_overlaps_for_a_day(merchants):
    shop = merchants[0]
    created = await create(shop.client)

    rotated = await shop.client.post(f"/v1/webhook-endpoints/{created['id']}/rotate-secret")

    assert rotated.status_code == 200, rotated.text
    expires_at = datetime.fromisoformat(rotated.json()["previous_secret_expires_at"])
    assert timedelta(hours=23) < expires_at - datetime.now(UTC) <= timedelta(days=1)


async def test_a_retried_rotation_under_its_key_rotates_once(merchants, database_engine):
    shop = merchants[0]
    created = await create(shop.client)
    path = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"
    headers = {"Idempotency-Key": uuid.uuid4().hex}

    first = await shop.client.post(path, json={"overlap_seconds": 60}, headers=headers)
    again = await shop.client.post(path, json={"overlap_seconds": 60}, headers=headers)

    assert again.json() == first.json()
    record = stored_endpoint(database_engine, shop.tenant, created["id"])
    assert record.previous_secret == created["secret"]


@pytest.mark.parametrize("overlap", [-1, 7 * 86400 + 1, "60"])
async def test_an_overlap_out_of_range_is_refused(merchants, overlap):
    created = await create(merchants[0].client)
    path = f"/v1/webhook-endpoints/{created['id']}/rotate-secret"

    refused = await merchants[0].client.post(path, json={"overlap_seconds": overlap})

    assert_problem(refused, 422, "validation_error")


# ------------------------------------------------------------------ tenants


async def test_another_tenants_endpoint_is_not_found_for_anything(merchants, database_engine):
    shop, other = merchants
    created = await create(shop.client)
    delivery = insert_delivery(database_engine, shop.tenant, created["id"], "evt_x", "failed")
    path = f"/v1/webhook-endpoints/{created['id']}"

    answers = [
        await other.client.get(path),
        await other.client.patch(path, json={"disabled": True}),
        await other.client.post(f"{path}/rotate-secret"),
        await other.client.get(f"{path}/deliveries"),
        await other.client.post(f"{path}/deliveries/{delivery}/retry"),
        await other.client.delete(path),
    ]

    for answer in answers:
        assert_problem(answer, 404, "webhook_endpoint_not_found")
    assert (await other.client.get("/v1/webhook-endpoints")).json()["data"] == []
    untouched = (await shop.client.get(path)).json()
    assert untouched == created | {"secret": None}
    assert stored_endpoint(database_engine, shop.tenant, created["id"]).secret == created["secret"]


@pytest.mark.parametrize("endpoint_id", ["we_nope", "we_" + "0" * 24, "../x"])
async def test_an_unknown_endpoint_is_not_found(merchants, endpoint_id):
    answer = await merchants[0].client.get(f"/v1/webhook-endpoints/{endpoint_id}")
    assert answer.status_code == 404


# ------------------------------------------------------------------ deliveries


def insert_delivery(
    engine: Engine,
    tenant: str,
    endpoint_id: str,
    event_id: str,
    status: str,
    *,
    attempts: int = 0,
    created_at: datetime = T0,
    event_type: str = "payment.succeeded",
) -> str:
    """A delivery as the delivery saga leaves it, with ``attempts`` failed attempts (the
    last one delivered when ``status`` says so), inserted in reverse order."""
    delivery_id = webhook_delivery_id(endpoint_id, event_id)
    with engine.begin() as connection:
        connection.execute(
            WebhookDeliveryRecord.__table__.insert().values(
                delivery_id=delivery_id,
                tenant_id=tenant,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type=event_type,
                status=status,
                attempts=attempts,
                next_attempt_at=created_at + timedelta(minutes=5) if status == "pending" else None,
                created_at=created_at,
                updated_at=created_at,
            )
        )
        for number in range(attempts, 0, -1):
            delivered = status == "delivered" and number == attempts
            connection.execute(
                WebhookAttemptRecord.__table__.insert().values(
                    delivery_id=delivery_id,
                    number=number,
                    at=created_at + timedelta(seconds=10 * number),
                    status_code=200 if delivered else 503,
                    latency_ms=40 + number,
                    error=None if delivered else "the endpoint answered 503",
                    response_excerpt="ok" if delivered else "unavailable",
                    manual=False,
                )
            )
    return delivery_id


async def test_deliveries_are_listed_newest_first_with_their_attempts_in_order(
    merchants, database_engine
):
    shop = merchants[0]
    endpoint = await create(shop.client)
    other_endpoint = await create(shop.client)
    older = insert_delivery(
        database_engine, shop.tenant, endpoint["id"], "evt_a", "delivered", attempts=3
    )
    newer = insert_delivery(
        database_engine,
        shop.tenant,
        endpoint["id"],
        "evt_b",
        "pending",
        attempts=1,
        created_at=T0 + timedelta(minutes=1),
    )
    insert_delivery(database_engine, shop.tenant, other_endpoint["id"], "evt_a", "failed")

    listed = await shop.client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries")

    assert listed.status_code == 200, listed.text
    page = listed.json()
    assert (page["has_more"], page["next_cursor"]) == (False, None)
    assert [delivery["id"] for delivery in page["data"]] == [newer, older]
    pending, delivered = page["data"]
    assert pending["next_attempt_at"] is not None
    assert [attempt["number"] for attempt in delivered["attempts"]] == [1, 2, 3]
    assert [attempt["status_code"] for attempt in delivered["attempts"]] == [503, 503, 200]
    assert delivered["attempts"][-1]["response_excerpt"] == "ok"
    assert delivered["attempts"][0]["error"] == "the endpoint answered 503"
    assert (delivered["status"], delivered["event_id"], delivered["event_type"]) == (
        "delivered",
        "evt_a",
        "payment.succeeded",
    )


async def test_the_failed_filter_and_pages_of_deliveries(merchants, database_engine):
    shop = merchants[0]
    endpoint = await create(shop.client)
    failed = [
        insert_delivery(
            database_engine,
            shop.tenant,
            endpoint["id"],
            f"evt_{i}",
            "failed" if i % 2 else "delivered",
            attempts=1,
            # Two share a creation time: the id breaks the tie.
            created_at=T0 + timedelta(seconds=i // 2),
        )
        for i in range(7)
    ]
    failed = [failed[i] for i in (5, 3, 1)]  # newest first
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"

    first = (await shop.client.get(path, params={"status": "failed", "limit": 2})).json()
    rest = (
        await shop.client.get(
            path, params={"status": "failed", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    everything = []
    cursor = None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await shop.client.get(path, params=params)).json()
        everything += [delivery["id"] for delivery in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]

    assert [delivery["id"] for delivery in first["data"]] == failed[:2]
    assert first["has_more"] is True
    assert [delivery["id"] for delivery in rest["data"]] == failed[2:]
    assert (rest["has_more"], rest["next_cursor"]) == (False, None)
    assert all(d["status"] == "failed" for d in first["data"] + rest["data"])
    assert len(everything) == len(set(everything)) == 7


@pytest.mark.parametrize(
    "params", [{"status": "lost"}, {"cursor": "not-a-cursor"}, {"limit": 0}, {"stauts": "failed"}]
)
async def test_a_bad_deliveries_query_is_a_4xx_problem(merchants, params):
    endpoint = await create(merchants[0].client)
    answer = await merchants[0].client.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", params=params
    )
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"


async def test_retrying_a_delivery_of_another_endpoint_is_not_found(merchants, database_engine):
    shop = merchants[0]
    endpoint = await create(shop.client)
    other_endpoint = await create(shop.client)
    theirs = insert_delivery(database_engine, shop.tenant, other_endpoint["id"], "evt_a", "failed")

    for delivery_id in (theirs, "whd_" + "0" * 24, "whd_nope"):
        answer = await shop.client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery_id}/retry"
        )
        assert_problem(answer, 404, "webhook_delivery_not_found")


async def test_a_delivery_of_a_disabled_endpoint_is_not_retried(merchants, database_engine):
    shop = merchants[0]
    endpoint = await create(shop.client)
    delivery = insert_delivery(database_engine, shop.tenant, endpoint["id"], "evt_a", "failed")
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    await shop.client.patch(path, json={"disabled": True})

    answer = await shop.client.post(f"{path}/deliveries/{delivery}/retry")

    assert_problem(answer, 409, "invalid_state")


@pytest.fixture
async def merchant_with_temporal(engine, local_env) -> AsyncIterator[Merchant]:
    target = local_env.client.service_client.config.target_host
    async with two_merchants(engine, temporal_address=target) as (shop, _):
        yield shop


async def started_input(handle) -> DeliveryInput:
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [delivery] = await handle._client.data_converter.decode(started.input.payloads, [DeliveryInput])
    return delivery


async def signals_of(handle) -> list[str]:
    history = await handle.fetch_history()
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


async def test_retrying_a_delivery_whose_saga_has_ended_starts_a_manual_run(
    merchant_with_temporal, engine, local_env
):
    shop = merchant_with_temporal
    endpoint = await create(shop.client)
    event_id = f"evt_{uuid.uuid4().hex[:24]}"
    delivery_id = insert_delivery(
        engine, shop.tenant, endpoint["id"], event_id, "failed", attempts=2
    )
    path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery_id}/retry"

    answer = await shop.client.post(path)

    assert answer.status_code == 202, answer.text
    assert answer.json()["id"] == delivery_id
    assert [a["number"] for a in answer.json()["attempts"]] == [1, 2]
    handle = local_env.client.get_workflow_handle(
        webhook_delivery_workflow_id(shop.tenant, delivery_id)
    )
    first = await handle.describe()
    assert first.status == WorkflowExecutionStatus.RUNNING
    assert first.workflow_type == "WebhookDeliveryWorkflow"
    assert await started_input(handle) == DeliveryInput(
        tenant_id=shop.tenant,
        delivery_id=delivery_id,
        endpoint_id=endpoint["id"],
        event_id=event_id,
        event_type="payment.succeeded",
        manual=True,
    )

    # While that run is there, a retry signals it instead of starting another.
    again = await shop.client.post(path)

    assert again.status_code == 202, again.text
    assert (await handle.describe()).run_id == first.run_id
    assert await signals_of(handle) == ["retry_now", "retry_now"]

    # Once it has ended, the next retry is a run of its own under the same id.
    await handle.terminate("the test ends this run")
    third = await shop.client.post(path)

    assert third.status_code == 202, third.text
    latest = await local_env.client.get_workflow_handle(handle.id).describe()
    assert latest.run_id != first.run_id
    assert latest.status == WorkflowExecutionStatus.RUNNING
    await local_env.client.get_workflow_handle(handle.id).terminate("the test is done")


async def test_a_retry_with_temporal_down_is_a_503_problem(merchants, database_engine):
    shop = merchants[0]
    endpoint = await create(shop.client)
    delivery = insert_delivery(database_engine, shop.tenant, endpoint["id"], "evt_a", "failed")

    answer = await shop.client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivery}/retry"
    )

    assert_problem(answer, 503, "temporal_unavailable")


# ------------------------------------------------------------------ events


def insert_event(engine: Engine, tenant: str, event_type: str, object_id: str, at: datetime) -> str:
    state = {"id": object_id, "status": event_type.split(".")[1]}
    with engine.begin() as connection:
        return write_event(
            connection,
            tenant,
            event_type,
            event_type.split(".")[0],
            object_id,
            at,
            json.dumps(state),
        )


async def test_events_are_listed_newest_first_and_filtered(merchants, database_engine):
    shop, other = merchants
    written = [
        insert_event(database_engine, shop.tenant, "payment.succeeded", "pay_1", T0),
        insert_event(
            database_engine, shop.tenant, "refund.failed", "re_1", T0 + timedelta(seconds=1)
        ),
        insert_event(
            database_engine, shop.tenant, "refund.succeeded", "re_2", T0 + timedelta(seconds=2)
        ),
        insert_event(
            database_engine, shop.tenant, "payment.failed", "pay_2", T0 + timedelta(seconds=3)
        ),
    ]
    insert_event(database_engine, other.tenant, "refund.failed", "re_9", T0)

    everything = (await shop.client.get("/v1/events")).json()
    refunds = (await shop.client.get("/v1/events", params={"type": "refund.*"})).json()
    succeeded = (await shop.client.get("/v1/events", params={"type": "payment.succeeded"})).json()
    of_object = (await shop.client.get("/v1/events", params={"object_id": "re_2"})).json()

    assert [event["id"] for event in everything["data"]] == written[::-1]
    assert everything["has_more"] is False
    assert [event["id"] for event in refunds["data"]] == [written[2], written[1]]
    assert [event["id"] for event in succeeded["data"]] == [written[0]]
    assert [event["id"] for event in of_object["data"]] == [written[2]]
    first = everything["data"][-1]
    assert (first["type"], first["object_type"], first["object_id"]) == (
        "payment.succeeded",
        "payment",
        "pay_1",
    )
    assert first["data"] == {"object": {"id": "pay_1", "status": "succeeded"}}
    assert datetime.fromisoformat(first["created_at"]) == T0


async def test_events_come_a_page_at_a_time(merchants, database_engine):
    shop = merchants[0]
    written = [
        insert_event(
            database_engine, shop.tenant, "payment.succeeded", f"pay_{i}", T0 + timedelta(seconds=i)
        )
        for i in range(5)
    ]

    first = (await shop.client.get("/v1/events", params={"limit": 2})).json()
    second = (
        await shop.client.get("/v1/events", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    third = (
        await shop.client.get("/v1/events", params={"limit": 2, "cursor": second["next_cursor"]})
    ).json()

    pages = [first, second, third]
    assert [[event["id"] for event in page["data"]] for page in pages] == [
        written[4:2:-1],
        written[2:0:-1],
        written[:1],
    ]
    assert [page["has_more"] for page in pages] == [True, True, False]
    assert third["next_cursor"] is None


async def test_another_tenants_event_is_not_found(merchants, database_engine):
    shop, other = merchants
    event_id = insert_event(database_engine, shop.tenant, "payment.succeeded", "pay_1", T0)

    mine = await shop.client.get(f"/v1/events/{event_id}")
    theirs = await other.client.get(f"/v1/events/{event_id}")

    assert mine.status_code == 200, mine.text
    assert mine.json()["id"] == event_id
    assert_problem(theirs, 404, "event_not_found")
    assert (await other.client.get("/v1/events")).json()["data"] == []
    assert_problem(await shop.client.get("/v1/events/evt_nope"), 404, "event_not_found")


@pytest.mark.parametrize(
    "params", [{"type": "payment.exploded"}, {"type": "*"}, {"cursor": "zzz"}, {"limit": 101}]
)
async def test_a_bad_events_query_is_a_4xx_problem(merchants, params):
    answer = await merchants[0].client.get("/v1/events", params=params)
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"] == "application/problem+json"
