"""PayoutWorkflow: reserve → transfer to the connected account → pay out to its bank, a saga.

    reserve_payout ──> transfer_to_connected_account ──> pay_out_to_bank ──> succeeded
         │ refused: rejected     │ refused                  │ failed / refused
         │ (nothing written)     └─> release ──> failed     └─> reverse_transfer
         │                                                      └─> release ──> failed

A provider call whose outcome stays unknown after its retries leaves the payout
``requires_attention`` with its reservation (and any transfer) kept: reconciliation asks the
provider (``find_transfer`` / ``find_payout``) and finishes it. Every state change is
written to the read model, with its journal entries, in one SQL transaction.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.payouts import PayoutInput
    from schemas.payouts import PayoutState
    from schemas.payouts import PayoutStatus
    from workflows.kit.failures import rejected
    from workflows.kit.outcomes import OutcomeUnknown
    from workflows.kit.outcomes import StepFailed
    from workflows.kit.saga import Saga
    from workflows.payout.activities import release_payout_reservation
    from workflows.payout.activities import reverse_transfer
    from workflows.payout.steps import PayoutSteps


@workflow.defn
class PayoutWorkflow:
    def __init__(self) -> None:
        self._steps: PayoutSteps | None = None

    @workflow.run
    async def run(self, payout: PayoutInput) -> PayoutState:
        self._steps = steps = PayoutSteps(payout)
        saga = Saga(steps.log)
        saga.register(release_payout_reservation, steps.release)
        if await steps.reserve():
            await self._move_money(steps, saga)
        steps.done = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return steps.state

    async def _move_money(self, steps: PayoutSteps, saga: Saga) -> None:
        try:
            saga.register(reverse_transfer, steps.reverse_transfer)
            await steps.transfer()
            journal = await steps.pay_out()
        except StepFailed as failure:
            if steps.state.transfer_reference is None:
                saga.discard(reverse_transfer)  # the transfer was refused: nothing went out
            compensated = await saga.unwind()
            status = failure.status if compensated else PayoutStatus.REQUIRES_ATTENTION
            steps.finish(status, failure.code, failure.message)
            await steps.record([], f"{status.value}: {failure.code}")
            return
        except OutcomeUnknown as unknown:
            # Nothing is undone: the money may have moved. Reconciliation decides.
            steps.finish(PayoutStatus.REQUIRES_ATTENTION, "outcome_unknown", unknown.message)
            await steps.record([], "requires attention: provider outcome unknown")
            return
        steps.finish(PayoutStatus.SUCCEEDED)
        await steps.record(journal, "ledger: paid out")

    @workflow.query
    def state(self) -> PayoutState | None:
        return self._steps.state if self._steps else None

    @workflow.update
    async def wait_for_result(self) -> PayoutState:
        """The payout once the provider answered (or it needs attention); raises
        ``Rejected`` with ``{code, message}`` when it was not admitted."""
        # Once the final state is stored: a client that reads the payout next finds it.
        await workflow.wait_condition(lambda: self._steps is not None and self._steps.done)
        rejection = self._steps.rejection
        if rejection is not None:
            raise rejected(rejection)
        return self._steps.state
