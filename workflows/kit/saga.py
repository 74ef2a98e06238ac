"""The compensation stack of a saga.

Register a compensation *before* its step runs, so a step that fails half-way is still
undone; unwind in reverse order; shield the unwinding from cancellation; keep going when
one compensation fails and report every outcome.
"""

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import ApplicationError

from workflows.kit.failures import reason
from workflows.kit.metrics import compensation_ran
from workflows.kit.step_log import Step
from workflows.kit.step_log import StepLog
from workflows.kit.step_log import step_name

# A compensation returns a detail for the step history, or None when it had nothing to undo.
CompensationAction = Callable[[], Awaitable[str | None]]


@dataclass
class _Compensation:
    name: str
    action: CompensationAction


class Saga:
    def __init__(self, log: StepLog) -> None:
        self._stack: list[_Compensation] = []
        self._log = log

    def register(self, step: Step, action: CompensationAction) -> None:
        """``action`` undoes ``step`` (usually the activity it calls, which names it)."""
        self._stack.append(_Compensation(step_name(step), action))

    def discard(self, step: Step) -> None:
        """Drop a compensation that no longer applies (a captured charge cannot be voided)."""
        name = step_name(step)
        self._stack = [c for c in self._stack if c.name != name]

    async def unwind(self) -> bool:
        """Run the compensations newest first. True when every one succeeded."""
        all_succeeded = True
        while self._stack:
            compensation = self._stack.pop()
            started = workflow.now()
            try:
                detail = await asyncio.shield(asyncio.ensure_future(compensation.action()))
                outcome = "succeeded" if detail is not None else "skipped"
            except (ActivityError, ApplicationError) as failure:
                all_succeeded = False
                outcome, detail = "failed", reason(failure)
            compensation_ran(compensation.name, outcome)
            self._log.ran(compensation.name, started, outcome, detail, kind="compensation")
        return all_succeeded
