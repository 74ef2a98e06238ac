"""One unit of load: a payment through the REST API, or a baseline workflow via the client."""

from __future__ import annotations

import time
import uuid

import httpx
from temporalio.client import Client

from schemas.identity import payment_workflow_id
from schemas.payments import PaymentInput
from schemas.payments import PaymentState
from workers.tools.bench.baseline import BaselinePaymentWorkflow
from workers.tools.bench.baseline import BaselineWorkflow
from workers.tools.bench.load import Sample
from workflows.payment.workflow import PaymentWorkflow

TENANT = "ten_default"
FINAL_STATUSES = {"succeeded", "declined", "failed", "canceled", "expired", "requires_attention"}
AMOUNT = 1999


def payment_request(run_id: str, index: int) -> tuple[dict, dict]:
    """Body and headers of one card payment with automatic capture.

    A customer per payment keeps the fraud velocity rule out of the way; the key is unique
    per payment, so every request is a new payment, never an idempotent replay.
    """
    body = {
        "amount": AMOUNT,
        "currency": "USD",
        "customer_id": f"cus_bench_{run_id}_{index}",
        "payment_method": "tok_visa",
    }
    return body, {"Idempotency-Key": f"bench-{run_id}-{index}"}


class ApiDriver:
    """POST /v1/payments; when the answer is not final yet, wait on the workflow's result."""

    def __init__(self, http: httpx.AsyncClient, temporal: Client, run_id: str) -> None:
        self._http = http
        self._temporal = temporal
        self._run_id = run_id

    async def __call__(self, sample: Sample, scheduled: float) -> None:
        body, headers = payment_request(self._run_id, sample.index)
        sample.idempotency_key = headers["Idempotency-Key"]
        response = await self._http.post("/v1/payments", json=body, headers=headers)
        sample.accept_seconds = time.monotonic() - scheduled
        if response.status_code not in (200, 201, 202):
            sample.error = f"http_{response.status_code}"
            return
        answer = response.json()
        sample.payment_id = answer["payment_id"]
        status = answer["status"]
        if status not in FINAL_STATUSES:
            handle = self._temporal.get_workflow_handle_for(
                PaymentWorkflow.run, payment_workflow_id(TENANT, sample.payment_id)
            )
            state: PaymentState = await handle.result()
            status = state.status.value
        sample.final_seconds = time.monotonic() - scheduled
        sample.final_status = status
        if status != "succeeded":
            sample.error = f"status_{status}"


class BaselineDriver:
    """Start a no-op saga straight through the Temporal client and wait for its result."""

    def __init__(
        self,
        temporal: Client,
        task_queue: str,
        run_id: str,
        workflow: BaselineWorkflow = BaselinePaymentWorkflow,
    ) -> None:
        self._temporal = temporal
        self._task_queue = task_queue
        self._run_id = run_id
        self._workflow = workflow

    async def __call__(self, sample: Sample, scheduled: float) -> None:
        body, _ = payment_request(self._run_id, sample.index)
        payment_id = f"pay_baseline_{self._run_id}_{sample.index}"
        payment = PaymentInput(**body, payment_id=payment_id, tenant_id=TENANT)
        handle = await self._temporal.start_workflow(
            self._workflow.run,
            payment,
            id=f"bench-baseline:{self._run_id}:{sample.index}",
            task_queue=self._task_queue,
        )
        sample.accept_seconds = time.monotonic() - scheduled
        await handle.result()
        sample.final_seconds = time.monotonic() - scheduled
        sample.final_status = "succeeded"


def new_run_id() -> str:
    return uuid.uuid4().hex[:8]
