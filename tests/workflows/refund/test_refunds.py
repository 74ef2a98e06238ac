"""RefundWorkflow on the real dev server (updates need it) with the real gateway and SQL."""

import pytest
from sqlmodel import Session
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.client import WorkflowUpdateFailedError

from schemas import errors
from schemas.identity import new_refund_id
from schemas.identity import payment_workflow_id
from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import REFUND_RESERVE
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.refunds import RefundInput
from schemas.refunds import RefundStatus
from schemas.store.ledger_reports import balance
from schemas.store.tables import PaymentRecord
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.sagas import refund_with_update
from tests.support.worker import running_worker


@pytest.fixture
async def client(local_env, settings, engine):
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client


async def paid(
    client: Client, settings, amount: int, payment_method: str = "tok_visa"
) -> PaymentState:
    payment = payment_input(amount=amount, payment_method=payment_method)
    handle = await start_payment(client, settings, payment)
    state = await handle.result()
    assert state.status == PaymentStatus.SUCCEEDED, state.failure_message
    return state


async def refund(client: Client, settings, payment: PaymentState, amount: int | None):
    refund = RefundInput(
        refund_id=new_refund_id(),
        tenant_id=payment.tenant_id,
        payment_id=payment.payment_id,
        amount=amount,
        reason="requested_by_customer",
    )
    return await refund_with_update(client, settings, refund)


def merchant(engine, payment: PaymentState) -> int:
    with Session(engine) as session:
        return balance(session, payment.tenant_id, MERCHANT_BALANCE, payment.currency)


async def test_two_partial_refunds_then_a_too_large_one_is_rejected(
    client, settings, engine, gateway
):
    payment = await paid(client, settings, 10_000)
    # Other sales: refunding all of one payment also gives back the fee the provider kept.
    await paid(client, settings, 1_000)
    before = merchant(engine, payment)

    _, first = await refund(client, settings, payment, 3_000)
    handle, second = await refund(client, settings, payment, 4_000)
    with pytest.raises(WorkflowUpdateFailedError) as too_large:
        await refund(client, settings, payment, 3_001)

    assert (first.status, second.status) == (RefundStatus.SUCCEEDED, RefundStatus.SUCCEEDED)
    cause = too_large.value.cause
    assert cause.type == errors.REJECTED
    assert cause.details[0]["code"] == "amount_exceeds_refundable"
    assert [step.name for step in second.steps] == [
        "reserve_refund",
        "create_refund",
        "record_refund",
    ]
    assert (await handle.result()).status == RefundStatus.SUCCEEDED
    with Session(engine) as session:
        row = session.get(PaymentRecord, payment.payment_id)
    assert (row.status, row.refunded_amount) == ("partially_refunded", 7_000)
    assert merchant(engine, payment) == before + 7_000
    refunds = (await gateway.get("/v1/refunds", params={"reference": second.refund_id})).json()
    assert [(r["amount"], r["status"]) for r in refunds["data"]] == [(4_000, "succeeded")]
    charge = (await gateway.get(f"/v1/charges/{payment.provider_reference}")).json()
    assert charge["amount_refunded"] == 7_000

    _, rest = await refund(client, settings, payment, None)
    assert (rest.status, rest.amount) == (RefundStatus.SUCCEEDED, 3_000)
    with Session(engine) as session:
        assert session.get(PaymentRecord, payment.payment_id).status == "refunded"


async def test_a_refund_the_provider_refuses_releases_the_reservation(client, settings, engine):
    payment = await paid(client, settings, 5_000, payment_method="tok_refundFails")
    before = merchant(engine, payment)

    _, failed = await refund(client, settings, payment, 2_000)

    assert failed.status == RefundStatus.FAILED
    assert failed.failure_code == "expired_or_canceled_card"
    assert merchant(engine, payment) == before
    with Session(engine) as session:
        assert balance(session, payment.tenant_id, REFUND_RESERVE, "USD") == 0
        row = session.get(PaymentRecord, payment.payment_id)
    assert (row.status, row.refunded_amount) == ("succeeded", 0)


async def test_a_payment_whose_workflow_is_gone_is_refunded_from_the_read_model(
    client, settings, engine
):
    payment = await paid(client, settings, 2_500)
    await paid(client, settings, 1_000)  # other sales cover the fee the provider kept
    # Retention removed the payment's history: only the read model knows it.
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(
                workflow_id=payment_workflow_id(payment.tenant_id, payment.payment_id)
            ),
        )
    )

    _, refunded = await refund(client, settings, payment, None)

    assert (refunded.status, refunded.amount) == (RefundStatus.SUCCEEDED, 2_500)
    with Session(engine) as session:
        assert session.get(PaymentRecord, payment.payment_id).status == "refunded"
