"""The send activity against real SMTP servers (the stack's catcher as a process, an
aiosmtpd server refusing recipients) and real SQL: what arrives, from whom, and what is
recorded of it."""

import json
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email.sending import EMAIL_UNAVAILABLE
from activities.email.sending import EmailActivities
from activities.email.smtp import SmtpServer
from schemas.store.events import write_event
from schemas.subscriptions import SubscriptionStatus
from tests.support import emails as given
from tests.support.smtp import RefusingSmtp
from tests.support.smtp import SmtpCatcher
from workers.stack import free_port


@pytest.fixture
def smtp(tmp_path):
    server = SmtpCatcher(tmp_path / "mail")
    server.start()
    yield server
    server.stop()


def activities_for(engine, port: int) -> EmailActivities:
    return EmailActivities(engine, SmtpServer(host="127.0.0.1", port=port, starttls=False))


async def send(engine, port: int, email):
    return await ActivityEnvironment().run(activities_for(engine, port).send_email, email)


async def test_a_payment_receipt_arrives_from_the_tenant_as_text_and_html(database_engine, smtp):
    given.configure(database_engine)
    customer = given.customer(database_engine)
    payment = given.succeeded_payment(
        database_engine, customer, 1999, description="Beans <b>& co</b>"
    )
    email = given.email_of(
        given.event_of(database_engine, payment.payment_id, "payment.succeeded"),
        "payment_receipt",
    )

    outcome = await send(database_engine, smtp.port, email)

    assert outcome.status == "sent"
    [message] = smtp.messages()
    assert message["From"] == "Corner Shop <billing@shop.example>"
    assert message["Reply-To"] == "help@shop.example"
    assert message["To"] == "ada@customer.example"
    assert message["Subject"] == "Your receipt from Corner Shop"
    assert message["Message-ID"] == f"<{email.email_id}@shop.example>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "19.99 EUR" in text and "19.99 EUR" in html
    assert payment.payment_id in text
    assert "Beans <b>& co</b>" in text
    assert "Beans &lt;b&gt;&amp; co&lt;/b&gt;" in html  # the client's text is never markup
    assert '<img src="https://shop.example/logo.png"' in html
    # What the provider and the fraud check know stays ours.
    [raw] = smtp.raw_messages()
    assert b"ch_internal_reference" not in raw and b"fp_internal_fingerprint" not in raw

    row = given.stored(database_engine, email)
    assert (row.status, row.attempts, row.recipient) == ("sent", 1, "ada@customer.example")
    assert row.message_id == message["Message-ID"] and row.sent_at is not None


async def test_a_refund_receipt_goes_to_the_payment_s_customer(database_engine, smtp):
    given.configure(database_engine)
    payment = given.succeeded_payment(database_engine, given.customer(database_engine), 5000)
    refund = given.succeeded_refund(database_engine, payment, 1250)
    email = given.email_of(
        given.event_of(database_engine, refund.refund_id, "refund.succeeded"), "refund_receipt"
    )

    assert (await send(database_engine, smtp.port, email)).status == "sent"

    [message] = smtp.messages()
    assert message["To"] == "ada@customer.example"
    assert "12.50 EUR" in message.get_body(("plain",)).get_content()


async def test_the_endpoint_disabled_notice_goes_to_the_tenant_s_address(database_engine, smtp):
    given.configure(database_engine)
    with database_engine.begin() as connection:
        event_id = write_event(
            connection,
            given.TENANT,
            "webhook_endpoint.disabled",
            "webhook_endpoint",
            "we_0123456789abcdef01234567",
            datetime.now(UTC),
            json.dumps({"url": "https://hooks.shop.example/in", "disabled_reason": "failing"}),
        )
    email = given.email_of(
        given.event_of(database_engine, "we_0123456789abcdef01234567", "webhook_endpoint.disabled"),
        "endpoint_disabled",
    )
    assert email.event_id == event_id

    assert (await send(database_engine, smtp.port, email)).status == "sent"

    [message] = smtp.messages()
    assert message["To"] == "ops@shop.example"
    assert "https://hooks.shop.example/in" in message.get_body(("plain",)).get_content()


async def test_no_recipient_is_skipped_not_failed(database_engine, smtp):
    given.configure(database_engine)
    payment = given.succeeded_payment(database_engine, given.customer(database_engine, None))
    client_own_id = given.succeeded_payment(database_engine, "their-customer-42")
    for made in (payment, client_own_id):
        email = given.email_of(
            given.event_of(database_engine, made.payment_id, "payment.succeeded"),
            "payment_receipt",
        )
        outcome = await send(database_engine, smtp.port, email)
        assert (outcome.status, outcome.reason) == ("skipped", "no_recipient")
        assert given.stored(database_engine, email).status == "skipped"
    assert smtp.messages() == []


async def test_a_kind_the_tenant_turned_off_is_skipped(database_engine, smtp):
    given.configure(
        database_engine, given.SHOP.model_copy(update={"enabled_kinds": ["refund_receipt"]})
    )
    payment = given.succeeded_payment(database_engine, given.customer(database_engine))
    email = given.email_of(
        given.event_of(database_engine, payment.payment_id, "payment.succeeded"),
        "payment_receipt",
    )
    outcome = await send(database_engine, smtp.port, email)
    assert (outcome.status, outcome.reason) == ("skipped", "email_disabled")
    assert smtp.messages() == []


async def test_a_reminder_of_a_subscription_no_longer_past_due_is_skipped(database_engine, smtp):
    given.configure(database_engine)
    subscription = given.past_due_subscription(
        database_engine, given.customer(database_engine), timedelta(days=3)
    )
    event = given.event_of(
        database_engine, subscription.subscription_id, "subscription.payment_failed"
    )
    given.set_subscription(
        database_engine,
        subscription,
        status=SubscriptionStatus.ACTIVE,
        next_retry_at=None,
        periods=[],
    )

    outcome = await send(database_engine, smtp.port, given.email_of(event, "dunning_reminder"))

    assert (outcome.status, outcome.reason) == ("skipped", "not_past_due")
    assert smtp.messages() == []


async def test_a_permanent_refusal_fails_the_email_for_good(database_engine):
    given.configure(database_engine)
    payment = given.succeeded_payment(database_engine, given.customer(database_engine))
    email = given.email_of(
        given.event_of(database_engine, payment.payment_id, "payment.succeeded"),
        "payment_receipt",
    )
    with RefusingSmtp() as port:
        outcome = await send(database_engine, port, email)
        # What the saga carries has the code, not the server's words (they name the recipient).
        assert (outcome.status, outcome.reason) == ("failed", "SMTP 550")
        # A later attempt (a lost answer) does not send again.
        again = await send(database_engine, port, email)
        assert (again.status, again.reason) == ("failed", "SMTP 550")
    row = given.stored(database_engine, email)
    assert row.status == "failed"
    assert row.last_error == "SMTP 550: 5.1.1 <ada@customer.example>: mailbox unavailable"


async def test_an_unreachable_server_fails_the_attempt_to_be_retried(database_engine):
    given.configure(database_engine)
    payment = given.succeeded_payment(database_engine, given.customer(database_engine))
    email = given.email_of(
        given.event_of(database_engine, payment.payment_id, "payment.succeeded"),
        "payment_receipt",
    )
    with pytest.raises(ApplicationError) as raised:
        await send(database_engine, free_port(), email)
    assert raised.value.type == EMAIL_UNAVAILABLE and not raised.value.non_retryable
    row = given.stored(database_engine, email)
    assert row.status == "pending" and "unreachable" in row.last_error


async def test_a_temporary_refusal_fails_the_attempt_to_be_retried(database_engine):
    given.configure(database_engine)
    payment = given.succeeded_payment(database_engine, given.customer(database_engine))
    email = given.email_of(
        given.event_of(database_engine, payment.payment_id, "payment.succeeded"),
        "payment_receipt",
    )
    with RefusingSmtp(450) as port, pytest.raises(ApplicationError) as raised:
        await send(database_engine, port, email)
    assert (raised.value.type, raised.value.message) == (EMAIL_UNAVAILABLE, "SMTP 450")
    assert not raised.value.non_retryable
    row = given.stored(database_engine, email)
    assert row.status == "pending" and row.last_error.startswith("SMTP 450: 4.1.1")
