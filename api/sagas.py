"""The saga client: every resource starts, reads and updates its saga through here.

A saga is found by its workflow id (``{tenant}:{kind}:{id}``), so another tenant's saga is
never found. Its state is in the workflow's ``state`` query while it runs and in the read
model, which its steps write, once it has ended (and after Temporal's retention).
"""

import asyncio
import re
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Annotated
from typing import Any
from typing import Generic
from typing import TypeVar

from fastapi import Depends
from fastapi import Request
from fastapi import Response
from fastapi import status
from pydantic import BaseModel
from sqlmodel import Session
from temporalio.client import Client
from temporalio.client import WithStartWorkflowOperation
from temporalio.client import WorkflowHandle
from temporalio.client import WorkflowUpdateFailedError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import Priority
from temporalio.common import TypedSearchAttributes
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from api.auth import TenantDep
from api.dependencies import SessionDep
from api.dependencies import get_settings
from api.dependencies import get_temporal
from api.dependencies import run_transaction
from api.idempotency import json_response
from api.problems import CATALOGUE
from api.problems import Problem
from api.problems import outage
from schemas import errors
from schemas.identity import DISPUTE_ID
from schemas.identity import INSTALLMENT_PLAN_ID
from schemas.identity import PAYMENT_ID
from schemas.identity import PAYOUT_ID
from schemas.identity import REFUND_ID
from schemas.identity import SUBSCRIPTION_ID
from schemas.identity import dispute_workflow_id
from schemas.identity import installment_plan_workflow_id
from schemas.identity import payment_workflow_id
from schemas.identity import payout_workflow_id
from schemas.identity import refund_workflow_id
from schemas.identity import subscription_workflow_id
from schemas.payouts import PayoutState
from schemas.refunds import RefundState
from schemas.runtime.settings import Settings
from schemas.store import read_model
from workflows.dispute.workflow import DisputeWorkflow
from workflows.installment_plan.workflow import InstallmentPlanWorkflow
from workflows.payment.workflow import PaymentWorkflow
from workflows.payout.workflow import PayoutWorkflow
from workflows.refund.workflow import RefundWorkflow
from workflows.subscription.workflow import SubscriptionWorkflow

State = TypeVar("State", bound=BaseModel)

# A query needs a live worker; past this the read model answers instead.
QUERY_TIMEOUT = timedelta(seconds=5)
# Update validators refuse by error type; admission steps and the subscription's validators
# raise ``Rejected`` with ``{code, message}``, whose code is the problem's own.
REFUSALS = {
    errors.AMOUNT_EXCEEDS_AUTHORIZED: "amount_exceeds_authorized",
    errors.INVALID_PAYMENT_STATE: "invalid_state",
    errors.AMOUNT_EXCEEDS_OUTSTANDING: "amount_exceeds_outstanding",
    errors.INSTALLMENT_OUT_OF_ORDER: "installment_out_of_order",
    errors.INVALID_PLAN_STATE: "invalid_plan_state",
}


def tenant_priority(tenant_id: str) -> Priority:
    """What every saga the API starts runs under: its tenant as the task queue fairness key,
    so its workflow tasks, and the activities and child workflows that inherit its priority,
    are handed out in turn per tenant when they wait for a worker."""
    return Priority(fairness_key=tenant_id)


def refusal(cause: BaseException | None) -> Problem | None:
    """The problem a saga's refusal answers; None when ``cause`` is no refusal."""
    if not isinstance(cause, ApplicationError):
        return None
    if cause.type == errors.REJECTED:
        # A refusal always answers 4xx: a code the API does not know is the saga saying
        # "not in a state for this".
        refused = cause.details[0] if cause.details else {}
        code = refused.get("code")
        return Problem(code if code in CATALOGUE else "invalid_state", refused.get("message"))
    code = REFUSALS.get(cause.type)
    return Problem(code, cause.message) if code else None


@contextmanager
def temporal_call() -> Iterator[None]:
    """Temporal's RPC errors inside the block answer 503 ``temporal_unavailable``."""
    try:
        yield
    except RPCError as e:
        raise outage("temporal_unavailable", e.message) from e


@dataclass(frozen=True)
class Saga(Generic[State]):
    """One kind of saga: its workflow (``run`` and the ``state`` query), ids, read model,
    and the problem codes of a missing one and of one not in a state for an action."""

    workflow: Any
    noun: str
    id_pattern: re.Pattern[str]
    workflow_id: Callable[[str, str], str]
    read_model: read_model.ReadModel[State]
    not_found: str
    wrong_state: str
    # The update a start waits on for its answer; None: the start answers at once.
    answer: Any = None
    # Its first step admits it and stores it: until then, and when refused, it does not
    # exist for clients; a failure to admit it means the ledger did not answer.
    admitted: bool = False
    # Its status is never final: the workflow answers while it exists, the read model once
    # it is gone.
    workflow_first: bool = False


PAYMENTS = Saga(
    workflow=PaymentWorkflow,
    noun="payment",
    id_pattern=PAYMENT_ID,
    workflow_id=payment_workflow_id,
    read_model=read_model.PAYMENTS,
    not_found="payment_not_found",
    wrong_state="invalid_state",
    answer=PaymentWorkflow.wait_for_milestone,
)
REFUNDS = Saga(
    workflow=RefundWorkflow,
    noun="refund",
    id_pattern=REFUND_ID,
    workflow_id=refund_workflow_id,
    read_model=read_model.REFUNDS,
    not_found="refund_not_found",
    wrong_state="invalid_state",
    answer=RefundWorkflow.wait_for_result,
    admitted=True,
)
PAYOUTS = Saga(
    workflow=PayoutWorkflow,
    noun="payout",
    id_pattern=PAYOUT_ID,
    workflow_id=payout_workflow_id,
    read_model=read_model.PAYOUTS,
    not_found="payout_not_found",
    wrong_state="invalid_state",
    answer=PayoutWorkflow.wait_for_result,
    admitted=True,
)
INSTALLMENT_PLANS = Saga(
    workflow=InstallmentPlanWorkflow,
    noun="installment plan",
    id_pattern=INSTALLMENT_PLAN_ID,
    workflow_id=installment_plan_workflow_id,
    read_model=read_model.INSTALLMENT_PLANS,
    not_found="installment_plan_not_found",
    wrong_state="invalid_plan_state",
    answer=InstallmentPlanWorkflow.wait_for_result,
    admitted=True,
)
SUBSCRIPTIONS = Saga(
    workflow=SubscriptionWorkflow,
    noun="subscription",
    id_pattern=SUBSCRIPTION_ID,
    workflow_id=subscription_workflow_id,
    read_model=read_model.SUBSCRIPTIONS,
    not_found="subscription_not_found",
    wrong_state="invalid_state",
    workflow_first=True,
)
DISPUTES = Saga(
    workflow=DisputeWorkflow,
    noun="dispute",
    id_pattern=DISPUTE_ID,
    workflow_id=dispute_workflow_id,
    read_model=read_model.DISPUTES,
    not_found="dispute_not_found",
    wrong_state="dispute_closed",
)


def state_from_input(state: type[State], saga_input: BaseModel, started_at: datetime) -> State:
    """The state of a saga no worker has run yet: the input's fields that the state has. One
    the input leaves to the saga (None, such as the amount of a refund of the rest) shows the
    state's default until the saga decides it."""
    fields = saga_input.model_dump(include=set(state.model_fields))
    known = {name: value for name, value in fields.items() if value is not None}
    return state(**known, created_at=started_at, updated_at=started_at)


def created_or_accepted(state: RefundState | PayoutState) -> Response:
    """A refund's or payout's answer: 201 once its outcome is final, 202 while the provider
    has not answered yet."""
    final = state.status.is_final
    return json_response(state, status.HTTP_201_CREATED if final else status.HTTP_202_ACCEPTED)


@dataclass(frozen=True)
class Sagas:
    """The calling tenant's sagas (a route gets them as ``SagasDep``)."""

    tenant: str
    session: Session
    temporal: Client
    settings: Settings

    def handle(self, saga: Saga, saga_id: str) -> WorkflowHandle:
        return self.temporal.get_workflow_handle(saga.workflow_id(self.tenant, saga_id))

    async def stored(self, saga: Saga[State], saga_id: str) -> State | None:
        """The read model's copy."""
        return await run_transaction(self.session, saga.read_model.get, self.tenant, saga_id)

    async def read(self, saga: Saga[State], saga_id: str) -> State | None:
        """The state now: the read model's once final, else the workflow's query (the read
        model's copy while no worker answers). None for an id that is none of the tenant's
        sagas, and for an admitted saga until it is admitted (a refused one never is)."""
        if not saga.id_pattern.match(saga_id):
            return None
        if saga.workflow_first:
            return await self._query(saga, saga_id) or await self.stored(saga, saga_id)
        stored = await self.stored(saga, saga_id)
        if stored is None and saga.admitted:
            return None
        if stored is not None and stored.status.is_final:
            return stored
        return await self._query(saga, saga_id) or stored

    async def find(self, saga: Saga[State], saga_id: str) -> State:
        """The state now, or 404 (``saga.not_found``)."""
        state = await self.read(saga, saga_id)
        if state is None:
            raise Problem(saga.not_found)
        return state

    async def start(
        self,
        saga: Saga[State],
        saga_input: BaseModel,
        saga_id: str,
        *,
        summary: str,
        search_attributes: TypedSearchAttributes,
        accepted: Callable[[], Awaitable[State]] | None = None,
    ) -> State:
        """Start the saga and answer with the result of its ``answer`` update: its refusal
        as a problem. A retried request joins the saga (the id comes from the Idempotency-Key);
        one past ``create_wait``, or of a saga that has finished, answers with what is known
        now: ``accepted()`` while no worker has run it yet (by default the state as the input
        says, started now)."""
        options: dict[str, Any] = {
            "id": saga.workflow_id(self.tenant, saga_id),
            "task_queue": self.settings.task_queue,
            # A retried request joins the running saga; a finished one is never started again.
            "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
            "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
            # What operators find it by in the Temporal UI before a worker has run it.
            "search_attributes": search_attributes,
            # Shown in the Temporal UI's list, so operators read sagas without decoding input.
            "static_summary": summary,
            "priority": tenant_priority(self.tenant),
        }
        with temporal_call():
            if saga.answer is None:
                await self.temporal.start_workflow(saga.workflow.run, saga_input, **options)
                return await self._accepted(saga, saga_input, accepted)
            start = WithStartWorkflowOperation(saga.workflow.run, saga_input, **options)
            try:
                async with asyncio.timeout(self.settings.create_wait.total_seconds()):
                    return await self.temporal.execute_update_with_start_workflow(
                        saga.answer, start_workflow_operation=start
                    )
            except WorkflowUpdateFailedError as e:
                problem = refusal(e.cause)
                if problem is None and saga.admitted:
                    problem = outage("ledger_unavailable", e.cause)
                if problem is None:
                    raise
                raise problem from e
            except (
                WorkflowAlreadyStartedError,
                TimeoutError,
                WorkflowUpdateRPCTimeoutOrCancelledError,
            ):
                # Finished long ago, or still processing. (When our timeout cancels the wait,
                # the client raises its own error instead of CancelledError, so
                # asyncio.timeout() does not turn it into TimeoutError: no worker ran it yet.)
                return await self._known_now(saga, saga_input, saga_id, accepted)

    async def update(
        self, saga: Saga, saga_id: str, update: Any, argument: BaseModel | None, key: str | None
    ) -> Any:
        """Send a client's action to the running saga. The Idempotency-Key also names the
        update, so Temporal itself runs it once per key. The saga's refusal answers as its
        problem; a saga that has finished as ``saga.wrong_state``."""
        handle = self.handle(saga, saga_id)
        with temporal_call():
            try:
                return await handle.execute_update(
                    update,
                    args=[] if argument is None else [argument],
                    id=f"{update.__name__}:{key}" if key else None,
                )
            except WorkflowUpdateFailedError as e:
                problem = refusal(e.cause)
                if problem is None:
                    raise
                raise problem from e
            except RPCError as e:
                if e.status not in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
                    raise
                raise await self._finished(saga, saga_id) from e
            except WorkflowUpdateRPCTimeoutOrCancelledError as e:
                # Temporal went away (or stopped answering) while the update waited for the worker.
                raise Problem("temporal_unavailable", "Temporal did not answer in time") from e

    async def signal(self, saga: Saga, saga_id: str, signal: Any) -> None:
        with temporal_call():
            try:
                await self.handle(saga, saga_id).signal(signal)
            except RPCError as e:
                if e.status != RPCStatusCode.NOT_FOUND:
                    raise
                raise await self._finished(saga, saga_id) from e

    async def _query(self, saga: Saga[State], saga_id: str) -> State | None:
        handle = self.handle(saga, saga_id)
        try:
            return await handle.query(saga.workflow.state, rpc_timeout=QUERY_TIMEOUT)
        except RPCError:
            return None  # no worker answering, or history gone: the read model is all there is

    async def _known_now(
        self,
        saga: Saga[State],
        saga_input: BaseModel,
        saga_id: str,
        accepted: Callable[[], Awaitable[State]] | None,
    ) -> State:
        state = await self.read(saga, saga_id)
        if state is None and saga.admitted:
            # Not admitted yet, or refused: only the workflow knows which.
            state = await self.handle(saga, saga_id).query(saga.workflow.state)
        if state is None:  # started, but no worker has run it yet
            return await self._accepted(saga, saga_input, accepted)
        if state.status == "rejected" and state.failure_code in CATALOGUE:
            raise Problem(state.failure_code, state.failure_message)
        return state

    async def _accepted(
        self,
        saga: Saga[State],
        saga_input: BaseModel,
        accepted: Callable[[], Awaitable[State]] | None,
    ) -> State:
        if accepted is None:
            return state_from_input(saga.read_model.state, saga_input, datetime.now(UTC))
        return await accepted()

    async def _finished(self, saga: Saga, saga_id: str) -> Problem:
        """No running workflow: the read model says whether the saga ever was."""
        stored = await self.stored(saga, saga_id)
        if stored is None:
            return Problem(saga.not_found)
        return Problem(saga.wrong_state, f"the {saga.noun} has finished: it is {stored.status}")


async def get_sagas(request: Request, tenant: TenantDep, session: SessionDep) -> Sagas:
    return Sagas(tenant, session, await get_temporal(request), await get_settings(request))


SagasDep = Annotated[Sagas, Depends(get_sagas)]
