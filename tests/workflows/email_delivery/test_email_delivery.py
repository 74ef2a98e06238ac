"""EmailDeliveryWorkflow with the real worker, real SQL and the stack's SMTP catcher as a
process: delivered, retried while the server is down and delivered once it is up, and the
dunning reminder's durable wait on the time-skipping server."""

import asyncio
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from schemas.domain.emails import email_starts
from schemas.identity import email_workflow_id
from schemas.subscriptions import SubscriptionStatus
from tests.support import emails as given
from tests.support.smtp import SmtpCatcher
from tests.support.worker import running_worker
from workers.stack import free_port
from workflows.email_delivery.workflow import EmailDeliveryWorkflow


def with_smtp(settings, port: int):
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    )


@pytest.fixture
def catcher(tmp_path):
    server = SmtpCatcher(tmp_path / "mail")
    yield server
    server.stop()


async def start(client, settings, email):
    return await client.start_workflow(
        EmailDeliveryWorkflow.run,
        email,
        id=email_workflow_id(email.tenant_id, email.email_id),
        task_queue=settings.task_queue,
    )


def receipt_to_send(engine):
    given.configure(engine)
    payment = given.succeeded_payment(engine, given.customer(engine), 4200)
    event = given.event_of(engine, payment.payment_id, "payment.succeeded")
    return given.email_of(event, "payment_receipt")


async def retried(engine, email):
    """The email's row once its send has failed twice (polled: a test of retries)."""
    while True:
        row = given.stored(engine, email)
        if row is not None and row.attempts >= 2:
            return row
        await asyncio.sleep(0.2)


async def send_scheduled_at(handle) -> datetime:
    """When the saga asked for the send, on the server's clock (the time-skipping one's)."""
    async for event in handle.fetch_history_events():
        scheduled = event.activity_task_scheduled_event_attributes
        if event.HasField("activity_task_scheduled_event_attributes"):
            if scheduled.activity_type.name == "send_email":
                return event.event_time.ToDatetime(tzinfo=UTC)
    raise AssertionError("no send was scheduled")


async def test_a_receipt_is_delivered(local_env, settings, engine, catcher):
    catcher.start()
    settings = with_smtp(settings, catcher.port)
    email = receipt_to_send(engine)
    async with running_worker(local_env.client, settings, engine):
        state = await (await start(local_env.client, settings, email)).result()
    assert (state.email_id, state.status) == (email.email_id, "sent")
    [message] = catcher.messages()
    assert message["Subject"] == "Your receipt from Corner Shop"
    assert "42.00 EUR" in message.get_body(("plain",)).get_content()


async def test_a_server_that_is_down_is_retried_until_it_takes_the_email(
    local_env, settings, engine, catcher
):
    port = free_port()
    settings = with_smtp(settings, port)
    email = receipt_to_send(engine)
    async with running_worker(local_env.client, settings, engine):
        handle = await start(local_env.client, settings, email)
        row = await retried(engine, email)
        assert row.status == "pending" and "unreachable" in row.last_error
        catcher.start_at(port)
        state = await handle.result()
    assert state.status == "sent"
    assert len(catcher.messages()) == 1
    row = given.stored(engine, email)
    assert row.status == "sent" and row.attempts >= 2 and row.last_error is None


async def test_the_reminder_goes_a_day_before_the_next_retry(
    own_time_env, settings, engine, catcher
):
    catcher.start()
    settings = with_smtp(settings, catcher.port)
    given.configure(engine)
    subscription = given.past_due_subscription(engine, given.customer(engine), timedelta(days=1))
    failed = given.email_of(
        given.event_of(engine, subscription.subscription_id, "subscription.payment_failed"),
        "dunning_reminder",
    )
    async with running_worker(own_time_env.client, settings, engine):
        handle = await start(own_time_env.client, settings, failed)
        # The first retry is a day after the failure notice: too soon for a reminder. It
        # fails too, and the next one is two days later.
        await own_time_env.sleep(timedelta(days=1, minutes=5))
        assert catcher.messages() == []
        second_retry = subscription.next_retry_at + timedelta(days=2)
        given.set_subscription(engine, subscription, next_retry_at=second_retry)
        state = await handle.result()
        sent_at = await send_scheduled_at(handle)
    assert state.status == "sent"
    [message] = catcher.messages()
    assert message["Subject"] == "Corner Shop will retry your payment soon"
    text = message.get_body(("plain",)).get_content()
    assert "15.00 EUR" in text and "Coffee club" in text
    assert f"{second_retry.day} {second_retry:%B %Y, %H:%M} UTC" in text
    assert second_retry - timedelta(days=1) <= sent_at < second_retry


async def test_no_reminder_once_the_subscription_is_paid(own_time_env, settings, engine, catcher):
    catcher.start()
    settings = with_smtp(settings, catcher.port)
    given.configure(engine)
    subscription = given.past_due_subscription(engine, given.customer(engine), timedelta(days=3))
    email = given.email_of(
        given.event_of(engine, subscription.subscription_id, "subscription.payment_failed"),
        "dunning_reminder",
    )
    async with running_worker(own_time_env.client, settings, engine):
        handle = await start(own_time_env.client, settings, email)
        await own_time_env.sleep(timedelta(days=1))
        given.set_subscription(
            engine, subscription, status=SubscriptionStatus.ACTIVE, next_retry_at=None, periods=[]
        )
        state = await handle.result()
    assert state.status == "skipped"
    assert catcher.messages() == []
    assert given.stored(engine, email).status == "skipped"


async def test_what_the_relay_starts_for_an_event_is_sent_once(
    local_env, settings, engine, catcher
):
    catcher.start()
    settings = with_smtp(settings, catcher.port)
    tenant_settings = given.configure(engine)
    payment = given.succeeded_payment(engine, given.customer(engine), 4200)
    event = given.event_of(engine, payment.payment_id, "payment.succeeded")
    async with running_worker(local_env.client, settings, engine):
        for _ in range(2):  # a relay that crashed before marking the event dispatched
            [(workflow_id, email)] = email_starts(given.TENANT, event, tenant_settings)
            handle = await local_env.client.start_workflow(
                EmailDeliveryWorkflow.run, email, id=workflow_id, task_queue=settings.task_queue
            )
            assert (await handle.result()).status == "sent"
    assert len(catcher.messages()) == 1
    assert given.stored(engine, email).attempts == 1
