"""Capture and cancel updates, on the real dev server (updates need it, DESIGN §3)."""

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from schemas import errors
from schemas.payments import CancelRequest
from schemas.payments import CaptureRequest
from schemas.payments import PaymentStatus
from tests.support.ledger import journal_entries_for
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.payments import step_names
from tests.support.payments import wait_for_status
from tests.support.worker import running_worker
from workflows.kit import search_attributes as sa
from workflows.payment.workflow import PaymentWorkflow


@pytest.fixture
async def client(local_env, settings, engine):
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client


async def test_manual_partial_capture(client, settings, engine, gateway):
    payment = payment_input(capture_method="manual", amount=5000)
    handle = await start_payment(client, settings, payment)
    held = await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)
    assert (held.authorized_amount, held.captured_amount) == (5000, 0)

    state = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest(amount=3000))

    assert state.status == PaymentStatus.SUCCEEDED
    assert (state.authorized_amount, state.captured_amount) == (5000, 3000)
    assert journal_entries_for(engine, payment.payment_id) == 2  # the capture and its fee
    charge = (await gateway.get(f"/v1/charges/{state.provider_reference}")).json()
    assert (charge["status"], charge["amount_captured"]) == ("captured", 3000)
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.PAYMENT_STATUS) == "succeeded"
    assert attributes.get(sa.AMOUNT_MINOR) == 5000
    assert attributes.get(sa.CUSTOMER_ID) == payment.customer_id


async def test_capture_above_authorized_is_rejected_and_changes_nothing(client, settings):
    handle = await start_payment(client, settings, payment_input(capture_method="manual"))
    await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)

    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(PaymentWorkflow.capture, CaptureRequest(amount=2000))

    assert isinstance(rejected.value.cause, ApplicationError)
    assert rejected.value.cause.type == errors.AMOUNT_EXCEEDS_AUTHORIZED
    state = await handle.query(PaymentWorkflow.state)
    assert (state.status, state.captured_amount) == (PaymentStatus.REQUIRES_CAPTURE, 0)
    await handle.execute_update(PaymentWorkflow.cancel, CancelRequest())


async def test_cancel_voids_and_a_second_action_is_refused(client, settings, gateway):
    handle = await start_payment(client, settings, payment_input(capture_method="manual"))
    await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)

    state = await handle.execute_update(PaymentWorkflow.cancel, CancelRequest(reason="customer"))

    assert state.status == PaymentStatus.CANCELED
    assert step_names(state)[-1] == ("compensation", "void_authorization", "succeeded")
    charge = (await gateway.get(f"/v1/charges/{state.provider_reference}")).json()
    assert charge["status"] == "voided"


async def test_capture_refused_while_waiting_for_three_d_secure(client, settings):
    payment = payment_input(payment_method="tok_threeDSecureRequired", capture_method="manual")
    handle = await start_payment(client, settings, payment)
    await wait_for_status(handle, PaymentStatus.REQUIRES_ACTION)

    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await handle.execute_update(PaymentWorkflow.capture, CaptureRequest())

    assert rejected.value.cause.type == errors.INVALID_PAYMENT_STATE
    state = await handle.execute_update(PaymentWorkflow.cancel, CancelRequest())
    assert state.status == PaymentStatus.CANCELED


async def test_compensation_that_cannot_succeed_leaves_requires_attention(
    client, settings, engine, gateway
):
    payment = payment_input(payment_method="tok_captureFails", capture_method="manual")
    handle = await start_payment(client, settings, payment)
    held = await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)
    # Someone voided the hold in the provider's dashboard: our own void can no longer succeed.
    voided = await gateway.post(
        f"/v1/charges/{held.provider_reference}/void",
        json={},
        headers={"Idempotency-Key": f"dashboard-{payment.payment_id}"},
    )
    assert voided.status_code == 200

    state = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest())

    assert state.status == PaymentStatus.REQUIRES_ATTENTION
    assert state.failure_code == "capture_failed"
    assert step_names(state)[-1] == ("compensation", "void_authorization", "failed")
    assert journal_entries_for(engine, payment.payment_id) == 0
