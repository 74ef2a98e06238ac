"""A worker holding the payload keys refuses a workflow started with a plaintext input (what
anyone reaching the Temporal frontend without the keys can send): its workflow task fails,
visibly, and nothing runs. Real worker, the dev server, gateway and SQLite.

Not the time-skipping server: a workflow task that fails and is then terminated there leaves
its time locked, and every later test of the session that sleeps in workflow time hangs."""

import asyncio
import base64
import os

from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.client import Client
from temporalio.client import WorkflowHandle

from schemas.payments import PaymentStatus
from schemas.runtime.payload_codec import data_converter
from schemas.runtime.settings import Settings
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.worker import running_worker
from workflows.payment.workflow import PaymentWorkflow

KEY = SecretStr(base64.b64encode(os.urandom(32)).decode())


def with_keys(settings: Settings, **overrides) -> Settings:
    return settings.model_copy(
        update={"payload_keys": {"k1": KEY}, "payload_key_id": "k1", **overrides}
    )


def encrypting(client: Client, settings: Settings) -> Client:
    return Client(**{**client.config(), "data_converter": data_converter(settings)})


async def event_types(handle: WorkflowHandle) -> list[int]:
    return [event.event_type async for event in handle.fetch_history_events()]


async def first_task_failure(handle: WorkflowHandle, seconds: float = 15) -> Failure:
    async with asyncio.timeout(seconds):
        while True:
            async for event in handle.fetch_history_events():
                if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                    return event.workflow_task_failed_event_attributes.failure
            await asyncio.sleep(0.1)


async def test_a_plaintext_start_fails_its_workflow_task(local_env, settings, engine):
    settings = with_keys(settings)
    worker_client = encrypting(local_env.client, settings)
    async with running_worker(worker_client, settings, engine):
        # The control: the API's own (encrypting) client is served.
        sealed = payment_input(amount=2500)
        state = await (await start_payment(worker_client, settings, sealed)).result()
        assert state.status == PaymentStatus.SUCCEEDED

        forged = await start_payment(local_env.client, settings, payment_input(amount=2500))
        try:
            failure = await first_task_failure(forged)
            assert failure.application_failure_info.type == "PayloadDecryptionError"
            # Its message is in the encrypted failure attributes, like every failure's.
            error = await worker_client.data_converter.decode_failure(failure)
            assert "unencrypted payload refused" in str(error)
            events = await event_types(forged)
            assert EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED not in events
            assert EventType.EVENT_TYPE_MARKER_RECORDED not in events  # no local activity
            assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in events
        finally:
            await forged.terminate("test: the forged start is refused")


async def test_plaintext_is_read_when_opted_in(local_env, settings, engine):
    settings = with_keys(settings, accept_plaintext_payloads=True)
    worker_client = encrypting(local_env.client, settings)
    async with running_worker(worker_client, settings, engine):
        old = await start_payment(local_env.client, settings, payment_input(amount=2500))
        # The result is written encrypted: read it with the keys.
        result = await worker_client.get_workflow_handle_for(PaymentWorkflow.run, old.id).result()
        assert result.status == PaymentStatus.SUCCEEDED
