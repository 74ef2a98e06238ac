"""How a saga's step ends it early: a failure to unwind, or an outcome nobody knows yet."""

from enum import StrEnum


class StepFailed(Exception):
    """A step failed for good: the saga unwinds its compensations, then ends with ``status``
    (``requires_attention`` instead when a compensation failed)."""

    def __init__(self, status: StrEnum, code: str | None, message: str | None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class OutcomeUnknown(Exception):
    """A provider call's outcome is still unknown after its retries: the money may have
    moved, so nothing is undone; reconciliation asks the provider and decides."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
