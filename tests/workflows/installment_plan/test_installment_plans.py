"""InstallmentPlanWorkflow on the time-skipping server (due dates and dunning are days
apart), with real child payments through the sandbox gateway and the real SQLite."""

import asyncio
import contextlib
import json
import uuid
from datetime import datetime
from datetime import timedelta

import pytest
from sqlmodel import Session
from sqlmodel import select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.client import WorkflowHandle
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from schemas import errors
from schemas.identity import billing_payment_id
from schemas.installments import CancelInstallmentPlanRequest
from schemas.installments import CreateInstallmentPlanRequest
from schemas.installments import InstallmentPlanState
from schemas.installments import PayInstallmentsRequest
from schemas.installments import ResolveRequest
from schemas.store.tables import InstallmentPlanRecord
from schemas.store.tables import PaymentRecord
from tests.support.sagas import installment_plan_input
from tests.support.sagas import start_installment_plan
from tests.support.worker import running_worker
from workflows.installment_plan.workflow import InstallmentPlanWorkflow
from workflows.kit import search_attributes as sa


@pytest.fixture
async def client(time_env, settings, engine):
    async with running_worker(time_env.client, settings, engine):
        yield time_env.client
        # A plan left running would hold the shared server's clock for every later test.
        for handle in STARTED:
            with contextlib.suppress(RPCError):
                await handle.terminate("test over")
        STARTED.clear()


STARTED: list[WorkflowHandle] = []


async def start_plan(
    client: Client, settings, first_due: datetime, total=9000, method="tok_visa", **fields
) -> WorkflowHandle:
    request = CreateInstallmentPlanRequest(
        amount=total,
        currency="USD",
        customer_id=f"cus_{uuid.uuid4().hex[:10]}",
        payment_method=method,
        first_due_at=first_due,
        **({"count": 3, "interval": "month"} | fields),
    )
    plan = installment_plan_input(request, "ten_test", first_due, [1, 3])
    handle = await start_installment_plan(client, settings, plan)
    STARTED.append(handle)
    await handle.execute_update(InstallmentPlanWorkflow.wait_for_result)
    return handle


async def state_when(handle: WorkflowHandle, done, seconds=30) -> InstallmentPlanState:
    """Polls the query (in real time: the server's clock stands still meanwhile)."""
    async with asyncio.timeout(seconds):
        while True:
            state = await handle.query(InstallmentPlanWorkflow.state)
            if done(state):
                return state
            await asyncio.sleep(0.1)


def statuses(state: InstallmentPlanState) -> list[str]:
    return [i.status.value for i in state.installments]


async def charges(gateway, payment_id: str) -> int:
    stats = (await gateway.get("/v1/stats")).json()["charges_by_reference"]
    return stats.get(payment_id, 0)


async def search_attributes(client: Client, handle: WorkflowHandle) -> dict:
    """Raw: the test server hands an unset datetime attribute back in a form the SDK's
    typed decoding refuses."""
    described = await client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=client.namespace, execution=WorkflowExecution(workflow_id=handle.id)
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    return {name: json.loads(payload.data) for name, payload in fields.items() if payload.data}


async def update_error(update) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await update
    return failed.value.cause.type


async def test_monthly_plan_charges_each_installment_once_on_its_due_date(
    client, time_env, settings, engine, gateway
):
    start = await time_env.get_current_time()
    handle = await start_plan(client, settings, start)

    final = await handle.result()  # time skips from due date to due date

    assert final.status == "completed"
    assert [i.amount for i in final.installments] == [3000, 3000, 3000]
    assert statuses(final) == ["paid", "paid", "paid"]
    assert (final.amount_paid, final.amount_outstanding) == (9000, 0)
    for installment in final.installments:
        [attempt] = installment.attempts
        assert attempt.status == "succeeded"
        assert attempt.at >= installment.due_at
        assert attempt.payment_id == billing_payment_id(
            final.installment_plan_id, installment.index, 1
        )
        assert await charges(gateway, attempt.payment_id) == 1
    assert [i.due_at.month for i in final.installments] == [
        (start.month + n - 1) % 12 + 1 for n in range(3)
    ]
    with Session(engine) as session:
        paid = session.exec(
            select(PaymentRecord.status).where(
                PaymentRecord.payment_id.in_([i.attempts[0].payment_id for i in final.installments])
            )
        ).all()
        record = session.get(InstallmentPlanRecord, final.installment_plan_id)
    assert paid == ["succeeded"] * 3
    assert (record.status, record.amount_paid) == ("completed", 9000)
    filed = await search_attributes(client, handle)
    assert filed[sa.INSTALLMENT_PLAN_STATUS.name] == "completed"
    assert filed[sa.INSTALLMENTS_PAID.name] == 3
    assert filed[sa.AMOUNT_MINOR.name] == 9000
    assert filed.get(sa.NEXT_CHARGE_AT.name) is None  # unset: nothing left to charge


async def test_installments_are_paid_in_order_and_overpayment_goes_to_the_next(
    client, time_env, settings, gateway
):
    start = await time_env.get_current_time()
    handle = await start_plan(client, settings, start + timedelta(days=10))
    pay = InstallmentPlanWorkflow.pay

    out_of_order = handle.execute_update(pay, PayInstallmentsRequest(installment=2))
    too_much = handle.execute_update(pay, PayInstallmentsRequest(amount=9001))
    assert await update_error(out_of_order) == errors.INSTALLMENT_OUT_OF_ORDER
    assert await update_error(too_much) == errors.AMOUNT_EXCEEDS_OUTSTANDING

    early = await handle.execute_update(pay, PayInstallmentsRequest(installment=1, amount=4500))

    assert early.attempt.status == "succeeded"
    assert statuses(early.plan) == ["paid", "pending", "pending"]
    assert [i.paid for i in early.plan.installments] == [3000, 1500, 0]
    assert early.plan.amount_outstanding == 4500
    final = await handle.result()
    # The second installment was charged only what it still owed, on its due date.
    assert [[a.amount for a in i.attempts] for i in final.installments] == [[4500], [1500], [3000]]
    assert final.installments[1].attempts[0].at >= final.installments[1].due_at
    assert final.amount_paid == 9000
    assert await charges(gateway, early.attempt.payment_id) == 1


async def test_failed_charges_are_dunned_then_an_operator_retries_with_a_new_card(
    client, time_env, settings, gateway
):
    start = await time_env.get_current_time()
    handle = await start_plan(
        client, settings, start, total=5000, method="tok_chargeDeclined", count=1
    )
    first = await handle.query(InstallmentPlanWorkflow.state)
    assert first.status == "past_due" and statuses(first) == ["retrying"]
    assert first.next_charge_at == first.installments[0].attempts[0].at + timedelta(days=1)

    await time_env.sleep(timedelta(days=4))
    defaulted = await state_when(handle, lambda s: s.status == "defaulted")
    installment = defaulted.installments[0]
    assert statuses(defaulted) == ["failed"]
    assert [a.status for a in installment.attempts] == ["declined"] * 3
    failed_at = installment.attempts[0].at
    retried = [a.at - failed_at for a in installment.attempts[1:]]
    assert retried[0] >= timedelta(days=1) and retried[1] >= timedelta(days=3)
    assert defaulted.next_charge_at is None

    resolved = await handle.execute_update(
        InstallmentPlanWorkflow.resolve, ResolveRequest(action="retry", payment_method="tok_visa")
    )

    assert resolved.installments[0].attempts[-1].status == "succeeded"
    final = await handle.result()
    assert final.status == "completed" and final.amount_paid == 5000
    assert len(final.installments[0].attempts) == 4
    payments = [a.payment_id for a in final.installments[0].attempts]
    assert len(set(payments)) == 4


async def test_an_operator_waives_a_defaulted_installment_and_the_plan_goes_on(
    client, time_env, settings
):
    start = await time_env.get_current_time()
    handle = await start_plan(
        client,
        settings,
        start,
        method="tok_chargeDeclined",
        count=2,
        interval="week",
        dunning_retry_days=[1],
    )
    await time_env.sleep(timedelta(days=2))
    await state_when(handle, lambda s: s.status == "defaulted")
    rejected = handle.execute_update(InstallmentPlanWorkflow.pay, PayInstallmentsRequest())
    assert await update_error(rejected) == errors.INVALID_PLAN_STATE

    waived = await handle.execute_update(
        InstallmentPlanWorkflow.resolve, ResolveRequest(action="waive")
    )

    assert waived.status == "active"
    assert statuses(waived) == ["waived", "pending"]
    assert (waived.amount_waived, waived.amount_outstanding) == (4500, 4500)
    assert waived.next_charge_at == waived.installments[1].due_at
    await time_env.sleep(timedelta(days=9))
    again = await state_when(handle, lambda s: s.status == "defaulted")
    assert statuses(again) == ["waived", "failed"]

    canceled = await handle.execute_update(
        InstallmentPlanWorkflow.resolve, ResolveRequest(action="cancel")
    )

    assert canceled.status == "canceled"
    assert (await handle.result()).amount_paid == 0


async def test_cancel_stops_every_future_charge(client, time_env, settings, gateway):
    start = await time_env.get_current_time()
    handle = await start_plan(client, settings, start)
    plan = await handle.query(InstallmentPlanWorkflow.state)
    assert statuses(plan) == ["paid", "pending", "pending"]

    canceled = await handle.execute_update(
        InstallmentPlanWorkflow.cancel, CancelInstallmentPlanRequest(reason="customer left")
    )

    assert canceled.status == "canceled" and canceled.next_charge_at is None
    assert statuses(canceled) == ["paid", "pending", "pending"]
    assert canceled.amount_paid == 3000  # not refunded: the payment id is in the state
    final = await handle.result()  # the workflow has ended: nothing can charge any more
    assert final == canceled
    for index in (2, 3):
        never = billing_payment_id(final.installment_plan_id, index, 1)
        assert await charges(gateway, never) == 0
    again = handle.execute_update(InstallmentPlanWorkflow.cancel, CancelInstallmentPlanRequest())
    with pytest.raises(Exception):  # noqa: B017 - the workflow has finished
        await again
