"""Starting a refund or payout saga and answering with its outcome, or 202 while it runs.

The saga's first step admits it; a refusal comes back as the update's failure
(``Rejected`` with ``{code, message}``) and becomes a problem answer. A retried request
joins the same saga (the id comes from the idempotency key); one that finished answers
from the read model.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError

from api.problems import Problem
from schemas import errors
from schemas.runtime.settings import Settings

# A refusal by a saga's admission step, by its code: (status, title).
REJECTIONS = {
    "payment_not_found": (404, "No such payment"),
    "connected_account_not_found": (404, "No such connected account"),
    "invalid_state": (409, "Payment is not in a state for this"),
    "amount_exceeds_refundable": (422, "Refund exceeds what is left to refund"),
    "insufficient_balance": (422, "The merchant balance cannot cover this"),
    "below_minimum": (422, "Less than the minimum payout is available"),
    "ledger_unavailable": (503, "The ledger is unavailable"),
    # Installment plans (issue 6): the invoice is admitted under its row lock.
    "invoice_not_found": (404, "No such invoice"),
    "invoice_locked": (409, "The invoice cannot change once payment has started"),
    "invoice_expired": (409, "The invoice has expired"),
    "invoice_changed": (409, "The invoice changed while the plan was made"),
}


def rejection(code: str, detail: str | None) -> Problem:
    status, title = REJECTIONS[code]
    return Problem(status, code, title, detail)


async def start_and_wait(
    temporal: Client,
    settings: Settings,
    saga: Any,
    saga_input: Any,
    workflow_id: str,
    summary: str,
    stored: Callable[[], Awaitable[Any]],
    accepted: Callable[[], Any],
    filed_under: TypedSearchAttributes | None = None,
) -> Any:
    """``saga``: the workflow class (``run``, ``wait_for_result``, ``state``). ``stored``
    reads the read model; ``accepted`` is the state to show before any worker ran it;
    ``filed_under``: search attributes operators find it by in the Temporal UI."""
    start = WithStartWorkflowOperation(
        saga.run,
        saga_input,
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=summary,
        search_attributes=filed_under,
    )
    try:
        async with asyncio.timeout(settings.create_wait.total_seconds()):
            return await temporal.execute_update_with_start_workflow(
                saga.wait_for_result, start_workflow_operation=start
            )
    except WorkflowUpdateFailedError as e:
        raise _from_failure(e.cause) from e
    except (WorkflowAlreadyStartedError, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        return await _current(temporal, saga, workflow_id, stored, accepted)
    except RPCError as e:
        raise Problem(503, "temporal_unavailable", "Temporal is unreachable", e.message) from e


async def _current(temporal: Client, saga: Any, workflow_id: str, stored, accepted) -> Any:
    """A retry of a finished saga, or one still running: what is known now."""
    state = await stored()
    if state is not None:
        return state
    try:
        state = await temporal.get_workflow_handle(workflow_id).query(saga.state)
    except RPCError as e:
        raise Problem(503, "temporal_unavailable", "Temporal did not answer", e.message) from e
    if state is None:  # started, but no worker has run it yet
        return accepted()
    if state.failure_code in REJECTIONS and state.status == "rejected":
        raise rejection(state.failure_code, state.failure_message)
    return state


def _from_failure(cause: BaseException | None) -> Problem:
    if isinstance(cause, ApplicationError) and cause.type == errors.REJECTED and cause.details:
        refused = cause.details[0]
        if refused.get("code") in REJECTIONS:
            return rejection(refused["code"], refused.get("message"))
    return Problem(503, "ledger_unavailable", "The request could not be admitted", str(cause))
