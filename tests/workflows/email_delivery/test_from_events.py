"""From a change to a mail in the SMTP server: the relay starts the emails an event makes,
with the tenant's sender, and only for tenants that set email up."""

from datetime import timedelta

import pytest

from schemas.identity import email_workflow_id
from tests.support import emails as given
from tests.support.smtp import SmtpCatcher
from tests.support.worker import running_worker
from workers.worker.event_relay import EventRelay
from workflows.email_delivery.workflow import EmailDeliveryWorkflow


@pytest.fixture
def catcher(tmp_path):
    server = SmtpCatcher(tmp_path / "mail")
    server.start()
    yield server
    server.stop()


async def test_a_failed_subscription_charge_mails_the_customer_with_the_tenants_sender(
    local_env, settings, engine, catcher
):
    settings = settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": catcher.port, "smtp_starttls": False}
    )
    given.configure(engine)
    subscription = given.past_due_subscription(
        engine, given.customer(engine), retry_in=timedelta(hours=2)
    )
    event = given.event_of(engine, subscription.subscription_id, "subscription.payment_failed")
    async with running_worker(local_env.client, settings, engine):
        await EventRelay(local_env.client, engine, settings.task_queue).relay_once()
        email = given.email_of(event, "dunning_failed")
        handle = local_env.client.get_workflow_handle_for(
            EmailDeliveryWorkflow.run, email_workflow_id(email.tenant_id, email.email_id)
        )
        assert (await handle.result()).status == "sent"
        reminder = given.email_of(event, "dunning_reminder")
        await local_env.client.get_workflow_handle(
            email_workflow_id(reminder.tenant_id, reminder.email_id)
        ).terminate("the reminder's wait is the time-skipping tests' subject")
    (message,) = catcher.messages()
    assert message["From"] == "Corner Shop <billing@shop.example>"
    assert message["Reply-To"] == "help@shop.example"
    assert message["To"] == "ada@customer.example"
    # A second look (another worker, or after a crash) sends nothing again.
    async with running_worker(local_env.client, settings, engine):
        await EventRelay(local_env.client, engine, settings.task_queue).relay_once()
    assert len(catcher.messages()) == 1
