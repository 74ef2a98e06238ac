"""Settling a payout left ``requires_attention``: paid at the bank → book it; otherwise take
the transfer back (if one went out) and release the reservation. Provider and ledger keys are
the saga's own, so nothing it already did is done or booked twice."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.domain import journals
    from schemas.payouts import PayoutState
    from schemas.payouts import PayoutStatus
    from schemas.payouts import RecordPayoutCommand
    from schemas.provider import TransferResult
    from schemas.provider import TransferReversalCommand
    from schemas.reconciliation import LookupCommand
    from schemas.reconciliation import ReconciliationSummary
    from workflows.kit import policies
    from workflows.kit.step_log import StepLog
    from workflows.payout.activities import record_payout
    from workflows.payout.activities import reverse_transfer
    from workflows.reconciliation.activities import lookup_payout
    from workflows.reconciliation.steps import READ
    from workflows.reconciliation.steps import RECONCILE_STEP


async def resolve_payout(payout: PayoutState, summary: ReconciliationSummary) -> None:
    found = await workflow.execute_activity(
        lookup_payout, LookupCommand(provider=payout.provider, id=payout.payout_id), **READ
    )
    state = payout.model_copy(deep=True)
    po, account = payout.payout_id, payout.account_id
    args = (payout.provider, payout.currency, payout.amount)
    journal = []
    if found.transfer is not None:
        state.transfer_reference = found.transfer.reference
        journal.append(journals.payout_transfer(po, account, *args))
    if found.payout is not None and found.payout.status == "paid":
        state.payout_reference = found.payout.reference
        journal.append(journals.payout_paid(po, account, *args))
        state.status, state.failure_code, state.failure_message = PayoutStatus.SUCCEEDED, None, None
        summary.payouts_paid.append(po)
    else:
        if found.transfer is not None:
            if found.transfer.amount_reversed < found.transfer.amount:
                await reverse_outstanding_transfer(payout, found.transfer)
            journal.append(journals.payout_transfer_reversed(po, account, *args))
        journal.append(journals.payout_release(po, *args))
        state.status = PayoutStatus.FAILED
        state.failure_code = found.payout.failure_code if found.payout else "reconciled_not_paid"
        summary.payouts_failed.append(po)
    state.updated_at = workflow.now()
    StepLog(state.steps).instant(RECONCILE_STEP, state.status.value)
    await workflow.execute_local_activity(
        record_payout,
        RecordPayoutCommand(state=state, journal=journal),
        **policies.RECORD_CALL,
    )


async def reverse_outstanding_transfer(payout: PayoutState, transfer: TransferResult) -> None:
    """Take back what is still out of the payout's transfer, with the saga's own key."""
    command = TransferReversalCommand(
        payout_id=payout.payout_id,
        provider=payout.provider,
        transfer_reference=transfer.reference,
        amount=transfer.amount - transfer.amount_reversed,
        currency=payout.currency,
        idempotency_key=f"{payout.payout_id}:reverse_transfer",
    )
    await workflow.execute_activity(reverse_transfer, command, **policies.COMPENSATION_CALL)
