"""The step history a saga keeps in its state: what an operator reads, step by step."""

from collections.abc import Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.payments import StepKind
    from schemas.payments import StepOutcome
    from schemas.payments import StepRecord

# An activity stub (the step is named like the activity), or the name of a step that calls
# no activity of its own (``review_payment``, ``reconcile``).
Step = Callable | str


def step_name(step: Step) -> str:
    """The name a step is recorded under. A stub is declared without ``name=``, so its
    function's name is the activity's."""
    return step if isinstance(step, str) else step.__name__


class StepLog:
    """Appends to a state's ``steps``; each method returns the record it appended."""

    def __init__(self, steps: list[StepRecord]) -> None:
        self.steps = steps

    def ran(
        self,
        step: Step,
        started: datetime,
        outcome: StepOutcome,
        detail: str | None,
        kind: StepKind = "step",
    ) -> StepRecord:
        """A step that ran from ``started`` until now."""
        return self._append(step, kind, outcome, started, detail)

    def instant(self, step: Step, detail: str | None) -> StepRecord:
        """A step that succeeded now and took no workflow time (a write that stores this
        very record)."""
        return self._append(step, "step", "succeeded", workflow.now(), detail)

    def _append(self, step, kind, outcome, started, detail) -> StepRecord:
        record = StepRecord(
            name=step_name(step),
            kind=kind,
            outcome=outcome,
            started_at=started,
            finished_at=workflow.now(),
            detail=detail,
        )
        self.steps.append(record)
        return record
