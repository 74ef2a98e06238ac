"""What the admission steps (a refund's, a payout's, an installment plan's) share: the
refusal they raise, and the state they store."""

from datetime import datetime
from typing import Any
from typing import TypeVar

from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from schemas import errors

State = TypeVar("State", bound=BaseModel)


def rejected(code: str, message: str) -> ApplicationError:
    """An admission refused: final, and nothing was written."""
    return ApplicationError(
        message, {"code": code, "message": message}, type=errors.REJECTED, non_retryable=True
    )


def admitted_state(
    state_type: type[State], request: BaseModel, now: datetime, **decided: Any
) -> State:
    """The state an admission stores: the request's fields that the state has, overridden by
    what the admission decided (``decided``: the amount, the provider, ...), created ``now``."""
    carried = request.model_dump(include=set(state_type.model_fields))
    return state_type(**(carried | decided), created_at=now, updated_at=now)
