"""How the sagas read an activity's failure: a reason for the step history, whether the
provider refused (nothing moved) or the outcome is unknown, and an admission's rejection
(read from the admission step, and answered to the client)."""

from collections.abc import Callable
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import ApplicationError
from temporalio.exceptions import CancelledError

from workflows.kit import policies

with workflow.unsafe.imports_passed_through():
    from schemas import errors
    from schemas.provider import DeclineDetails

# A local activity that exhausted its retries may surface as its bare ApplicationError.
LOCAL_ACTIVITY_FAILURES = (ActivityError, ApplicationError)
# The provider answered with a refusal: final, nothing was applied.
FINAL_REFUSALS = (errors.DECLINED, errors.INVALID_REQUEST)


def cause_of(failure: BaseException) -> BaseException:
    return (failure.cause or failure) if isinstance(failure, ActivityError) else failure


def reason(failure: BaseException) -> str:
    cause = cause_of(failure)
    if isinstance(cause, ApplicationError):
        return f"{cause.type}: {cause.message}"
    return str(cause)


def refused(failure: BaseException) -> bool:
    cause = cause_of(failure)
    return isinstance(cause, ApplicationError) and cause.type in FINAL_REFUSALS


def retried(failure: BaseException) -> bool:
    """Whether ``PROVIDER_RETRY`` would try a provider call that failed so again: not after a
    failure the activity made final, a refusal, or a cancellation."""
    cause = cause_of(failure)
    if isinstance(cause, ApplicationError):
        return not cause.non_retryable and cause.type not in errors.PROVIDER_NON_RETRYABLE
    return not isinstance(cause, CancelledError)


def refusal(cause: ApplicationError) -> DeclineDetails:
    """The provider's code and message of a ``Declined`` or ``InvalidRequest`` failure."""
    if cause.details and isinstance(cause.details[0], dict):
        return DeclineDetails.model_validate(cause.details[0])
    code = "declined" if cause.type == errors.DECLINED else "invalid_request"
    return DeclineDetails(code=code, message=cause.message)


def rejection(failure: BaseException) -> dict:
    """``{code, message}`` of an admission step's ``Rejected``; any other failure (the ledger
    never answered) is ``ledger_unavailable``."""
    cause = cause_of(failure)
    if isinstance(cause, ApplicationError) and cause.type == errors.REJECTED and cause.details:
        return dict(cause.details[0])
    return {"code": "ledger_unavailable", "message": reason(failure)}


async def admit(step: Callable, request: Any) -> tuple[Any, dict | None]:
    """Run an admission step (the local activity that reserves or locks what the saga
    needs): ``(its result, None)``, or ``(None, its rejection)`` when it refused."""
    try:
        return await workflow.execute_local_activity(step, request, **policies.ADMISSION_CALL), None
    except LOCAL_ACTIVITY_FAILURES as failure:
        return None, rejection(failure)


def rejected(rejection: dict) -> ApplicationError:
    """The ``Rejected`` failure an update answers a refused request with: the client reads
    ``{code, message}`` from its details."""
    return ApplicationError(rejection["message"], rejection, type=errors.REJECTED)
