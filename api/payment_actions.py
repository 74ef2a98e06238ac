"""Actions on one payment (capture, cancel, confirm, review), sent to its saga as updates
or signals.

With an Idempotency-Key an action runs once and its answer is replayed; the key also names
the Temporal update, so the workflow runs it once per key too.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Request, Response, status
from pydantic import BaseModel
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, TemporalDep
from api.idempotency import IdempotencyStore, execute_once, fingerprint, json_response
from api.payment_reads import read_payment
from api.problems import Problem
from api.workflow_updates import execute_update
from schemas import errors
from schemas.identity import payment_workflow_id
from schemas.payments import PaymentStatus
from schemas.risk_review import ReviewDecision, ReviewRequest
from workflows.payment.workflow import PaymentWorkflow

# Any string: an id that is not ours answers 404, exactly like one that is not there.
PaymentIdPath = Annotated[str, Path(description="A payment id, `pay_…`")]


@dataclass
class PaymentAction:
    """A client's action on one of its payments, sent to the payment's saga."""

    request: Request
    session: Session
    temporal: Client
    idempotency: IdempotencyStore
    tenant: str
    payment_id: str

    async def once(self, key: str | None, sent: BaseModel | None, handler) -> Response:
        """With an Idempotency-Key the action runs once and its answer is replayed."""
        if key is None:
            return await handler(None)
        request_fingerprint = fingerprint(self.request, sent)
        return await execute_once(self.idempotency, self.tenant, key, request_fingerprint, handler)

    async def update(
        self, update, update_input: BaseModel, key: str | None, sent: BaseModel | None
    ) -> Response:
        """``update``: a PaymentWorkflow update method, e.g. ``PaymentWorkflow.capture``."""

        async def run(_: str | None) -> Response:
            handle = await running_handle(self.session, self.temporal, self.tenant, self.payment_id)
            # The key also names the update, so Temporal itself runs it once per key.
            update_id = f"{update.__name__}:{key}" if key else None
            return json_response(await send_update(handle, update, update_input, update_id))

        return await self.once(key, sent, run)

    async def review(self, body: ReviewRequest | None, key: str | None) -> Response:
        """An operator's decision on a payment held for review, sent as the ``review`` update."""

        async def run(_: str | None) -> Response:
            state = await read_payment(self.session, self.temporal, self.tenant, self.payment_id)
            if state is None:
                raise not_found()
            if state.status != PaymentStatus.IN_REVIEW:
                raise wrong_state(state.status, "in_review")
            # Optional in the schema so that a payment that is not there is a 404 first.
            if body is None:
                raise Problem(
                    422,
                    "validation_error",
                    "Request is invalid",
                    "body: a review needs a decision and a reason",
                    errors=[{"field": "body", "message": "Field required", "type": "missing"}],
                )
            decision = ReviewDecision(
                decision=body.decision,
                reason=body.reason,
                # Without a name, the decision is the API key's tenant's.
                reviewer=body.reviewer or f"api:{self.tenant}",
                channel="api",
            )
            handle = self.temporal.get_workflow_handle(
                payment_workflow_id(self.tenant, self.payment_id)
            )
            update_id = f"review:{key}" if key else None
            return json_response(
                await send_update(handle, PaymentWorkflow.review, decision, update_id)
            )

        return await self.once(key, body, run)

    async def confirm(self, _: str | None) -> Response:
        state = await read_payment(self.session, self.temporal, self.tenant, self.payment_id)
        if state is None:
            raise not_found()
        if state.status != PaymentStatus.REQUIRES_ACTION:
            raise wrong_state(state.status, "requires_action")
        workflow_id = payment_workflow_id(self.tenant, self.payment_id)
        try:
            await self.temporal.get_workflow_handle(workflow_id).signal(PaymentWorkflow.confirm)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise Problem(409, "invalid_state", "Payment has already finished") from e
            raise Problem(503, "temporal_unavailable", "Temporal is unreachable", e.message) from e
        return json_response(state, status.HTTP_202_ACCEPTED)


async def payment_action(
    tenant: TenantDep,
    payment_id: PaymentIdPath,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
) -> PaymentAction:
    return PaymentAction(request, session, temporal, idempotency, tenant, payment_id)


ActionDep = Annotated[PaymentAction, Depends(payment_action)]


async def running_handle(session, temporal, tenant: str, payment_id: str) -> WorkflowHandle:
    state = await read_payment(session, temporal, tenant, payment_id)
    if state is None:
        raise not_found()
    if state.status.is_final:
        raise wrong_state(state.status, "requires_capture or requires_action")
    return temporal.get_workflow_handle(payment_workflow_id(tenant, payment_id))


# The saga's refusals, by error type: (status, code, title).
REFUSALS = {
    errors.AMOUNT_EXCEEDS_AUTHORIZED: (422, "amount_exceeds_authorized", "Amount too large"),
    errors.INVALID_PAYMENT_STATE: (409, "invalid_state", "Payment is not in a state for this"),
}


def _refusal(cause: ApplicationError) -> Problem | None:
    known = REFUSALS.get(cause.type)
    return Problem(*known, cause.message) if known else None


async def _finished() -> Problem:
    return Problem(409, "invalid_state", "Payment has already finished")


async def send_update(handle: WorkflowHandle, update, request: BaseModel, update_id: str | None):
    return await execute_update(
        handle, update, [request], update_id, refusal=_refusal, finished=_finished
    )


def not_found() -> Problem:
    # The id is not echoed back: it is client input, possibly long or not an id at all.
    return Problem(404, "payment_not_found", "No such payment")


def wrong_state(current: PaymentStatus, expected: str) -> Problem:
    return Problem(
        409,
        "invalid_state",
        "Payment is not in a state for this",
        f"payment is {current.value}; this needs {expected}",
    )
