"""RefundWorkflow: reserve the refundable amount → provider refund → ledger, as a saga.

A refusal by the provider releases the reservation (the compensation of the reserve step);
an unknown outcome keeps it and leaves the refund to reconciliation, which asks the provider.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.refunds import RefundInput
    from schemas.refunds import RefundState
    from schemas.refunds import RefundStatus
    from workflows.kit.failures import rejected
    from workflows.kit.outcomes import OutcomeUnknown
    from workflows.kit.outcomes import StepFailed
    from workflows.kit.saga import Saga
    from workflows.refund.steps import RELEASE_RESERVATION
    from workflows.refund.steps import RefundSteps


@workflow.defn
class RefundWorkflow:
    def __init__(self) -> None:
        self._steps: RefundSteps | None = None

    @workflow.run
    async def run(self, refund: RefundInput) -> RefundState:
        self._steps = steps = RefundSteps(refund)
        saga = Saga(steps.log)
        saga.register(RELEASE_RESERVATION, steps.release)
        if await steps.reserve():
            try:
                await steps.refund_at_provider()
            except StepFailed as failure:
                # The release posts with the final state: it cannot fail on its own.
                await saga.unwind()
                steps.finish(failure.status, failure.code, failure.message)
            except OutcomeUnknown as unknown:
                steps.finish(RefundStatus.REQUIRES_ATTENTION, "outcome_unknown", unknown.message)
            await steps.record()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return steps.state

    @workflow.query
    def state(self) -> RefundState:
        return self._steps.state if self._steps else None

    @workflow.update
    async def wait_for_result(self) -> RefundState:
        """The refund once its outcome is booked (or it needs attention); raises
        ``Rejected`` with ``{code, message}`` when it was not admitted."""
        await workflow.wait_condition(
            lambda: (
                self._steps is not None
                and (self._steps.settled or self._steps.rejection is not None)
            )
        )
        rejection = self._steps.rejection
        if rejection is not None:
            raise rejected(rejection)
        return self._steps.state
