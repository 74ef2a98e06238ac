"""Sending a client's action to a running saga as an update, and answering what goes wrong
as a problem: the saga's refusal (its validator or handler raised), a saga that has
already finished, or a Temporal that does not answer."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from temporalio.client import (
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.problems import Problem


async def execute_update(
    handle: WorkflowHandle,
    update: Any,
    arguments: Sequence[Any],
    update_id: str | None,
    *,
    refusal: Callable[[ApplicationError], Problem | None],
    finished: Callable[[], Awaitable[Problem]],
) -> Any:
    """``refusal`` turns the saga's ``ApplicationError`` into the problem to answer (None:
    not a refusal, re-raised); ``finished`` says what to answer when no run is there."""
    try:
        return await handle.execute_update(update, args=list(arguments), id=update_id)
    except WorkflowUpdateFailedError as e:
        problem = refusal(e.cause) if isinstance(e.cause, ApplicationError) else None
        if problem is None:
            raise
        raise problem from e
    except RPCError as e:
        if e.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            raise await finished() from e
        raise Problem(503, "temporal_unavailable", "Temporal is unreachable", e.message) from e
    except WorkflowUpdateRPCTimeoutOrCancelledError as e:
        # Temporal went away (or stopped answering) while the update waited for the worker.
        raise Problem(503, "temporal_unavailable", "Temporal did not answer in time") from e
