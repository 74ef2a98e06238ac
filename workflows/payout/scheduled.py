"""ScheduledPayoutWorkflow: one run of a connected account's payout schedule.

A Temporal Schedule (``{tenant}:payout-schedule:{account}``) starts it; its workflow id is
the schedule id plus the scheduled time, and the payout id is derived from that, so the run
pays out at most once whatever is retried. It pays out the whole available balance through
a child ``PayoutWorkflow`` (abandoned on close: a payout always finishes its saga); less
than the schedule's minimum available ends the run as ``skipped``, not as an error.
"""

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from schemas.identity import payout_workflow_id
    from schemas.identity import scheduled_payout_id
    from schemas.payouts import PayoutInput
    from schemas.payouts import PayoutState
    from schemas.payouts import PayoutStatus
    from schemas.payouts import ScheduledPayoutInput
    from schemas.payouts import ScheduledPayoutResult
    from workflows.payout.workflow import PayoutWorkflow

OUTCOMES = {
    PayoutStatus.SUCCEEDED: "paid",
    PayoutStatus.FAILED: "failed",
    PayoutStatus.REQUIRES_ATTENTION: "requires_attention",
}


@workflow.defn
class ScheduledPayoutWorkflow:
    @workflow.run
    async def run(self, schedule: ScheduledPayoutInput) -> ScheduledPayoutResult:
        payout_id = scheduled_payout_id(workflow.info().workflow_id)
        payout = PayoutInput(
            payout_id=payout_id,
            tenant_id=schedule.tenant_id,
            account_id=schedule.account_id,
            amount=None,
            minimum_amount=schedule.minimum_amount,
            currency=schedule.currency,
        )
        state: PayoutState = await workflow.execute_child_workflow(
            PayoutWorkflow.run,
            payout,
            id=payout_workflow_id(schedule.tenant_id, payout_id),
            parent_close_policy=ParentClosePolicy.ABANDON,
            static_summary=f"scheduled {schedule.interval} payout to {schedule.account_id}",
        )
        if state.status == PayoutStatus.REJECTED:
            outcome = "skipped" if state.failure_code == "below_minimum" else "rejected"
        else:
            outcome = OUTCOMES.get(state.status, "requires_attention")
        return ScheduledPayoutResult(payout_id=payout_id, outcome=outcome, payout=state)
