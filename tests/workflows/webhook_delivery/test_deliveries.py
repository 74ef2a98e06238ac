"""The delivery saga on a time-skipping server of each test's own (a delivery left
retrying holds the clock), with the real activity, SQLite and a real
receiver process that verifies every delivery with the standardwebhooks library."""

import base64
import json
import secrets
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from schemas.identity import webhook_delivery_workflow_id
from schemas.payments import PaymentStatus
from schemas.store.read_model import PAYMENTS
from schemas.store.tables import EventRecord
from schemas.store.tables import WebhookAttemptRecord
from schemas.store.tables import WebhookDeliveryRecord
from schemas.store.tables import WebhookEndpointRecord
from tests.support.payments import processing_state
from tests.support.webhook_receiver import webhook_receiver
from tests.support.worker import running_worker
from workers.worker.event_relay import EventRelay
from workflows.kit import search_attributes as sa
from workflows.webhook_delivery.workflow import WebhookDeliveryWorkflow


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@pytest.fixture
def receiver(tmp_path):
    with webhook_receiver(tmp_path / "receiver") as receiver:
        yield receiver


@pytest.fixture
async def client(own_time_env, settings, engine):
    settings = settings.model_copy(update={"webhook_allow_private_urls": True})
    async with running_worker(own_time_env.client, settings, engine):
        yield own_time_env.client


def add_endpoint(engine, tenant: str, url: str, secret: str, events=("*",)) -> str:
    endpoint_id = f"we_{uuid.uuid4().hex[:24]}"
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            WebhookEndpointRecord.__table__.insert(),
            {
                "endpoint_id": endpoint_id,
                "tenant_id": tenant,
                "url": url,
                "enabled_events_json": json.dumps(list(events)),
                "status": "enabled",
                "secret": secret,
                "created_at": now,
                "updated_at": now,
            },
        )
    return endpoint_id


def pay(engine, status=PaymentStatus.SUCCEEDED):
    state = processing_state(status=status)
    with engine.begin() as connection:
        PAYMENTS.upsert(connection, state)
    return state


async def relay(client, settings, engine) -> list[str]:
    """One look of the outbox relay: the ids of the delivery sagas it started."""
    await EventRelay(client, engine, settings.task_queue).relay_once()
    with engine.connect() as connection:
        rows = connection.execute(select(WebhookDeliveryRecord)).all()
    return [webhook_delivery_workflow_id(row.tenant_id, row.delivery_id) for row in rows]


async def finished(own_time_env, workflow_id: str, step: timedelta = timedelta(hours=1)):
    """The delivery's result, skipping time until it has one (the relay started it, so its
    handle is not one the time-skipping client skips time for by itself)."""
    handle = own_time_env.client.get_workflow_handle_for(WebhookDeliveryWorkflow.run, workflow_id)
    for _ in range(24 * 5):
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return await handle.result()
        await own_time_env.sleep(step)
    raise AssertionError(f"{workflow_id} still running after five days")


def attempts(engine) -> list:
    with engine.connect() as connection:
        return connection.execute(
            select(WebhookAttemptRecord).order_by(WebhookAttemptRecord.number)
        ).all()


async def test_a_receiver_down_for_an_hour_gets_the_event_when_it_is_back(
    client, own_time_env, settings, engine, receiver
):
    secret = new_secret()
    receiver.configure("shop", secrets=[secret])
    add_endpoint(engine, "ten_test", receiver.url("shop"), secret)
    state = pay(engine)
    receiver.stop()
    (workflow_id,) = await relay(client, settings, engine)
    handle = client.get_workflow_handle(workflow_id)
    await own_time_env.sleep(timedelta(hours=1))
    failed = attempts(engine)
    assert len(failed) >= 5  # 0 s, ~10 s, ~40 s, ~2 min, ~7 min, ~20 min, ~1 h
    assert all(a.status_code is None and a.error for a in failed)
    receiver.start()
    result = await finished(own_time_env, workflow_id, step=timedelta(minutes=10))
    assert result.status == "delivered"
    (delivery,) = receiver.deliveries("shop")
    assert delivery["body"]["type"] == "payment.succeeded"
    assert delivery["body"]["data"]["object"]["payment_id"] == state.payment_id
    with engine.connect() as connection:
        (event_id,) = connection.execute(select(EventRecord.event_id)).scalars()
    assert delivery["webhook_id"] == event_id
    listed = attempts(engine)
    assert [a.status_code for a in listed][-1] == 200
    assert len(listed) == result.attempts
    described = await handle.describe()
    assert described.typed_search_attributes.get(sa.DELIVERY_STATUS) == "delivered"


async def test_an_endpoint_failing_for_three_days_is_disabled(
    client, own_time_env, settings, engine, receiver
):
    secret = new_secret()
    receiver.configure("down", secrets=[secret], mode="fail", status=500)
    endpoint_id = add_endpoint(engine, "ten_test", receiver.url("down"), secret)
    pay(engine)
    (workflow_id,) = await relay(client, settings, engine)
    result = await finished(own_time_env, workflow_id)
    assert result.status == "failed"
    listed = attempts(engine)
    assert {a.status_code for a in listed} == {500}
    assert listed[-1].at - listed[0].at >= timedelta(days=3)
    assert listed[0].response_excerpt is not None
    with engine.connect() as connection:
        endpoint = connection.execute(
            select(WebhookEndpointRecord).where(WebhookEndpointRecord.endpoint_id == endpoint_id)
        ).one()
        disabled_events = connection.execute(
            select(EventRecord).where(EventRecord.type == "webhook_endpoint.disabled")
        ).all()
    assert endpoint.status == "disabled"
    assert endpoint.disabled_reason == "every delivery failed for three days"
    assert [e.object_id for e in disabled_events] == [endpoint_id]
    assert "whsec_" not in disabled_events[0].data_json


async def test_only_subscribed_endpoints_get_a_delivery(client, settings, engine, receiver):
    secret = new_secret()
    refunds_only = add_endpoint(engine, "ten_test", receiver.url("r"), secret, ["refund.*"])
    everything = add_endpoint(engine, "ten_test", receiver.url("a"), secret)
    add_endpoint(engine, "ten_other", receiver.url("o"), secret)
    pay(engine)
    started = await relay(client, settings, engine)
    assert len(started) == 1
    with engine.connect() as connection:
        (delivery,) = connection.execute(select(WebhookDeliveryRecord)).all()
    assert delivery.endpoint_id == everything != refunds_only
    # A second look (another worker, or this one after a crash) starts nothing more.
    assert await relay(client, settings, engine) == started


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254"])
async def test_a_non_public_address_is_refused_at_delivery(
    own_time_env, settings, engine, receiver, host
):
    # Registered while its name pointed elsewhere: the check that counts is at delivery.
    secret = new_secret()
    receiver.configure("inside", secrets=[secret])
    url = receiver.url("inside").replace("127.0.0.1", host).replace("http://", "https://")
    add_endpoint(engine, "ten_test", url, secret)
    pay(engine)
    async with running_worker(own_time_env.client, settings, engine):
        (workflow_id,) = await relay(own_time_env.client, settings, engine)
        # Refused at every attempt for the whole window: the endpoint is disabled.
        result = await finished(own_time_env, workflow_id)
    assert result.status == "failed"
    listed = attempts(engine)
    assert listed and all(a.status_code is None for a in listed)
    assert all("non-public address" in a.error for a in listed)
    assert receiver.deliveries("inside") == []


async def test_retry_now_cuts_the_wait_short(client, own_time_env, settings, engine, receiver):
    secret = new_secret()
    receiver.configure("late", secrets=[secret], mode="fail", status=503)
    add_endpoint(engine, "ten_test", receiver.url("late"), secret)
    pay(engine)
    (workflow_id,) = await relay(client, settings, engine)
    handle = client.get_workflow_handle(workflow_id)
    await own_time_env.sleep(timedelta(seconds=1))
    receiver.configure("late", mode="ok")
    await handle.signal(WebhookDeliveryWorkflow.retry_now)
    assert (
        await finished(own_time_env, workflow_id, step=timedelta(seconds=1))
    ).status == "delivered"
    # The receiver verified both: it answered the first 503 and the second 200.
    assert [a.status_code for a in attempts(engine)] == [503, 200]
    assert len(receiver.deliveries("late")) == 2
