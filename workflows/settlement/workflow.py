"""SettlementWorkflow: what a provider reports after a refund's or payout's saga ended.

A refund the provider had accepted can fail days later (the card was closed), and a payout
can be returned by the bank after it was sent: the money comes back to the provider
balance it left. A payout's arrival at the bank is reported the same way. The provider's
event only says "look again": this saga reads the refund or payout from the provider and
from our records, and books what changed, with the sagas' own ledger and provider keys, so
duplicated or out-of-order events change nothing twice.

- **Refund failed** → ``refund_reversal`` (the money is the merchant's again), the refund
  ``failed`` with the provider's reason, the payment's refunded amount recomputed.
- **Payout failed** → ``payout_reversal`` (back in the connected account's balance, as at
  Stripe), then the transfer is taken back from the connected account (the saga's own
  ``{payout}:reverse_transfer`` key) and the reservation released: the payout ends as one
  the bank refused at once does, ``failed`` with the merchant balance restored.
- **Payout paid** → ``arrived_at``.

One workflow per refund or payout (``{tenant}:settlement:{id}``), started with a signal: an
event while it runs makes it look once more, a later one starts a new run.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from schemas.domain import journals
    from schemas.payouts import PayoutState
    from schemas.payouts import PayoutStatus
    from schemas.payouts import RecordPayoutCommand
    from schemas.reconciliation import LookupCommand
    from schemas.refunds import RecordRefundCommand
    from schemas.refunds import RefundState
    from schemas.refunds import RefundStatus
    from schemas.settlements import RecordedCommand
    from schemas.settlements import SettlementInput
    from workflows.kit import policies
    from workflows.kit.step_log import StepLog
    from workflows.payout.activities import record_payout
    from workflows.reconciliation.activities import lookup_payout
    from workflows.reconciliation.activities import lookup_refund
    from workflows.reconciliation.payouts import reverse_outstanding_transfer
    from workflows.reconciliation.steps import READ
    from workflows.refund.activities import record_refund
    from workflows.settlement.activities import recorded_payout
    from workflows.settlement.activities import recorded_refund

# The name a late outcome is recorded under in the refund's or payout's steps.
SETTLE_STEP = "settle_late_outcome"
# A saga still running decides first: look again until it has stored its outcome.
SAGA_RUNNING_POLL = timedelta(seconds=5)
SAGA_RUNNING_LIMIT = timedelta(hours=1)
WAITING = "waiting for the saga"


@workflow.defn
class SettlementWorkflow:
    def __init__(self) -> None:
        self._requests = 1  # the start is a request to look

    @workflow.signal
    def recheck(self) -> None:
        """Another event about the refund or payout: look at the provider once more."""
        self._requests += 1

    @workflow.run
    async def run(self, subject: SettlementInput) -> list[str]:
        settle = self._refund if subject.subject == "refund" else self._payout
        outcomes: list[str] = []
        looked = 0
        waited = timedelta()
        while looked < self._requests:
            looked = self._requests
            outcome = await settle(subject)
            while outcome == WAITING and waited < SAGA_RUNNING_LIMIT:
                await workflow.sleep(SAGA_RUNNING_POLL)
                waited += SAGA_RUNNING_POLL
                outcome = await settle(subject)
            outcomes.append(outcome)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return outcomes

    async def _refund(self, subject: SettlementInput) -> str:
        state = await _recorded(recorded_refund, subject)
        if state is None:
            return "unknown refund"
        if state.status == RefundStatus.PENDING:
            return WAITING
        if state.status != RefundStatus.SUCCEEDED:
            # Failed already, or left to reconciliation, which asks the provider itself.
            return f"refund is {state.status.value}: nothing to do"
        lookup = LookupCommand(
            provider=state.provider, id=state.refund_id, reference=state.provider_reference
        )
        found = (await workflow.execute_activity(lookup_refund, lookup, **READ)).refund
        if found is None or found.status != "failed":
            return "refund stands at the provider"
        failed = _failed(state, found.failure_code or "refund_failed", found.failure_message)
        money = (state.provider, state.currency, state.amount)
        entry = journals.refund_reversed(state.refund_id, *money)
        command = RecordRefundCommand(state=failed, journal=[entry])
        await workflow.execute_local_activity(record_refund, command, **policies.RECORD_CALL)
        return f"refund failed: {failed.failure_code}"

    async def _payout(self, subject: SettlementInput) -> str:
        state = await _recorded(recorded_payout, subject)
        if state is None:
            return "unknown payout"
        if state.status == PayoutStatus.PENDING:
            return WAITING
        if state.status != PayoutStatus.SUCCEEDED:
            return f"payout is {state.status.value}: nothing to do"
        lookup = LookupCommand(provider=state.provider, id=state.payout_id)
        found = await workflow.execute_activity(lookup_payout, lookup, **READ)
        if found.payout is None:
            return "payout not found at the provider"
        if found.payout.status == "failed":
            code = found.payout.failure_code or "payout_failed"
            failed = _failed(state, code, found.payout.failure_message)
            po, account = state.payout_id, state.account_id
            money = (state.provider, state.currency, state.amount)
            returned = journals.payout_reversed(po, account, *money)
            transfer = found.transfer
            try:
                if transfer is not None and transfer.amount_reversed < transfer.amount:
                    await reverse_outstanding_transfer(state, transfer)
            except ActivityError:
                # The money is back on the connected account and stays there for now:
                # reconciliation takes the transfer back and releases the reservation.
                failed.status = PayoutStatus.REQUIRES_ATTENTION
                await _record_payout(failed, [returned])
                return f"payout failed: {code}; the transfer is not reversed yet"
            journal = [
                returned,
                journals.payout_transfer_reversed(po, account, *money),
                journals.payout_release(po, *money),
            ]
            await _record_payout(failed, journal)
            return f"payout failed: {code}"
        if found.payout.arrived_at is not None and state.arrived_at is None:
            arrived = state.model_copy(deep=True)
            arrived.arrived_at = found.payout.arrived_at
            arrived.updated_at = max(arrived.updated_at, workflow.now())
            StepLog(arrived.steps).instant(SETTLE_STEP, f"arrived {arrived.arrived_at:%Y-%m-%d}")
            await _record_payout(arrived, [])
            return "payout arrived"
        return "payout stands at the provider"


async def _recorded(step, subject: SettlementInput):
    command = RecordedCommand(tenant_id=subject.tenant_id, subject_id=subject.subject_id)
    return await workflow.execute_local_activity(step, command, **policies.LOCAL_CALL)


def _failed(
    state: RefundState | PayoutState, code: str, message: str | None
) -> RefundState | PayoutState:
    """The refund or payout as the provider now says: failed, with its reason."""
    failed = state.model_copy(deep=True)
    failed.status = type(state.status).FAILED
    failed.failure_code, failed.failure_message = code, message
    failed.updated_at = max(failed.updated_at, workflow.now())
    StepLog(failed.steps).instant(SETTLE_STEP, f"failed at the provider: {code}")
    return failed


async def _record_payout(state: PayoutState, journal) -> None:
    command = RecordPayoutCommand(state=state, journal=journal)
    await workflow.execute_local_activity(record_payout, command, **policies.RECORD_CALL)
