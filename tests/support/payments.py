"""Helpers to start payment workflows directly and watch them, for workflow tests."""

import asyncio
import uuid
from datetime import UTC
from datetime import datetime

from temporalio.client import Client
from temporalio.client import WorkflowHandle

from schemas.identity import new_payment_id
from schemas.identity import payment_workflow_id
from schemas.payments import PaymentInput
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.runtime.settings import Settings
from workflows.kit import search_attributes
from workflows.payment.workflow import PaymentWorkflow


def payment_input(**overrides) -> PaymentInput:
    fields = {
        "payment_id": new_payment_id(),
        "tenant_id": "ten_test",
        "amount": 1999,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "payment_method": "tok_visa",
    }
    fields.update(overrides)
    return PaymentInput(**fields)


def processing_state(**overrides) -> PaymentState:
    """A payment's state as the workflow reports it before authorization."""
    now = datetime.now(UTC)
    fields = {
        "payment_id": new_payment_id(),
        "tenant_id": "ten_test",
        "status": PaymentStatus.PROCESSING,
        "amount": 2500,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "provider": "sandbox",
        "capture_method": "automatic",
        "created_at": now,
        "updated_at": now,
    }
    return PaymentState(**(fields | overrides))


async def start_payment(
    client: Client, settings: Settings, payment: PaymentInput, filed_at_start: bool = False
) -> WorkflowHandle:
    """Start the saga; ``filed_at_start`` sets the search attributes at start, as the API does."""
    return await client.start_workflow(
        PaymentWorkflow.run,
        payment,
        id=payment_workflow_id(payment.tenant_id, payment.payment_id),
        task_queue=settings.task_queue,
        search_attributes=search_attributes.at_start(payment) if filed_at_start else None,
    )


async def wait_for_status(
    handle: WorkflowHandle, status: PaymentStatus, seconds: float = 15
) -> PaymentState:
    """Poll the state query (time-skipping servers do not run updates reliably)."""
    async with asyncio.timeout(seconds):
        while True:
            state = await handle.query(PaymentWorkflow.state)
            if state.status == status:
                return state
            assert not state.status.is_final, f"ended {state.status}: {state.failure_message}"
            await asyncio.sleep(0.05)


def step_names(state: PaymentState) -> list[tuple[str, str, str]]:
    return [(step.kind, step.name, step.outcome) for step in state.steps]
