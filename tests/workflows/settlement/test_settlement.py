"""SettlementWorkflow on the real dev server with the real gateway and SQL: an event that
overtakes the saga it is about waits for the saga's outcome before it books anything."""

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus

from schemas.identity import settlement_workflow_id
from schemas.refunds import RefundStatus
from schemas.settlements import SettlementInput
from schemas.store.read_model import REFUNDS
from tests.support.ledger import assert_ledger_invariants
from tests.support.worker import running_worker
from tests.workflows.refund.test_refunds import merchant
from tests.workflows.refund.test_refunds import paid
from tests.workflows.refund.test_refunds import refund
from workflows.settlement.workflow import SAGA_RUNNING_POLL
from workflows.settlement.workflow import SettlementWorkflow


@pytest.fixture
async def client(local_env, settings, engine):
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client


async def test_a_failure_reported_before_the_refund_was_booked_waits_for_it(
    client, settings, engine, gateway
):
    payment = await paid(client, settings, 5_000)
    before = merchant(engine, payment)
    _, refunded = await refund(client, settings, payment, 2_000)
    # The provider's event overtook the saga: the refund's row still says pending.
    with engine.begin() as connection:
        REFUNDS.upsert(connection, refunded.model_copy(update={"status": RefundStatus.PENDING}))
    failed = await gateway.post(
        f"/v1/test_helpers/refunds/{refunded.provider_reference}/fail",
        json={"failure_code": "lost_or_stolen_card"},
    )
    assert failed.json()["object"]["status"] == "failed"

    subject = SettlementInput(
        tenant_id=refunded.tenant_id,
        subject="refund",
        subject_id=refunded.refund_id,
        provider=refunded.provider,
    )
    handle = await client.start_workflow(
        SettlementWorkflow.run,
        subject,
        id=settlement_workflow_id(subject.tenant_id, subject.subject_id),
        task_queue=settings.task_queue,
        start_signal="recheck",
    )
    await asyncio.sleep(SAGA_RUNNING_POLL.total_seconds() / 2)
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert merchant(engine, payment) == before + 2_000  # nothing booked while it waits
    with engine.begin() as connection:  # the saga books its success
        REFUNDS.upsert(connection, refunded)

    assert await handle.result() == ["refund failed: lost_or_stolen_card"]
    with engine.connect() as connection:
        state = REFUNDS.get(connection, refunded.tenant_id, refunded.refund_id)
    assert (state.status, state.failure_code) == (RefundStatus.FAILED, "lost_or_stolen_card")
    assert merchant(engine, payment) == before
    assert_ledger_invariants(engine)
