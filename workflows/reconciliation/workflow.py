"""ReconciliationWorkflow: settle what ended ``requires_attention`` by asking the provider.

Run by a Temporal Schedule (every 15 minutes, pausable in the UI). Money that moved is
booked (a captured charge, a refund that went through); what did not is undone or released
(an authorization is voided, a refund's reservation given back). Every write is keyed like
the saga's own, so a payment the saga half-booked can never be booked twice.
Payouts: ``workflows/reconciliation/payouts.py``.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.domain import journals
    from schemas.ledger import RecordPaymentCommand
    from schemas.payments import PaymentState
    from schemas.payments import PaymentStatus
    from schemas.payments import ProviderDisagreement
    from schemas.provider import ChargeCommand
    from schemas.provider import ChargeResult
    from schemas.reconciliation import PROVIDER_DISAGREES
    from schemas.reconciliation import FindUnresolvedCommand
    from schemas.reconciliation import LookupCommand
    from schemas.reconciliation import ReconciliationSummary
    from schemas.refunds import RecordRefundCommand
    from schemas.refunds import RefundState
    from schemas.refunds import RefundStatus
    from workflows.kit import patches
    from workflows.kit import policies
    from workflows.kit.step_log import StepLog
    from workflows.payment.activities import record_payment
    from workflows.payment.activities import void_authorization
    from workflows.payment.steps import apply_charge
    from workflows.reconciliation.activities import find_unresolved
    from workflows.reconciliation.activities import lookup_charge
    from workflows.reconciliation.activities import lookup_refund
    from workflows.reconciliation.payouts import resolve_payout
    from workflows.reconciliation.steps import READ
    from workflows.reconciliation.steps import RECONCILE_STEP
    from workflows.refund.activities import record_refund

HELD = ("authorized", "requires_action")


@workflow.defn
class ReconciliationWorkflow:
    @workflow.run
    async def run(self, command: FindUnresolvedCommand) -> ReconciliationSummary:
        unresolved = await workflow.execute_activity(find_unresolved, command, **READ)
        summary = ReconciliationSummary()
        for payment in unresolved.payments:
            await self._payment(payment, summary)
        for refund in unresolved.refunds:
            await self._refund(refund, summary)
        for payout in unresolved.payouts:
            await resolve_payout(payout, summary)
        return summary

    async def _payment(self, payment: PaymentState, summary: ReconciliationSummary) -> None:
        lookup = await workflow.execute_activity(
            lookup_charge,
            LookupCommand(
                provider=payment.provider,
                id=payment.payment_id,
                reference=payment.provider_reference,
            ),
            **READ,
        )
        charge, state, journal = lookup.charge, payment.model_copy(deep=True), []
        captured = charge is not None and charge.status == "captured"
        if (
            captured
            and _disagrees(payment, charge)
            and workflow.patched(patches.PROVIDER_DISAGREES)
        ):
            # Booking it would put the provider's figure in the merchant's balance and make it
            # refundable: an operator decides (the report lists it), nobody asks again.
            state.provider_reference = charge.reference
            state.provider_disagreement = ProviderDisagreement(
                amount=charge.amount,
                captured_amount=charge.captured_amount,
                currency=charge.currency,
            )
            detail = (
                f"provider captured {charge.captured_amount} {charge.currency or '(currency?)'} "
                f"of a payment of {payment.amount} {payment.currency}: not booked"
            )
            _settle(state, PaymentStatus.REQUIRES_ATTENTION, PROVIDER_DISAGREES, detail)
            summary.payments_disagreeing.append(payment.payment_id)
        elif captured:
            journal = journals.capture(
                payment.payment_id,
                payment.provider,
                payment.currency,
                charge.captured_amount,
                charge.fee,
            )
            apply_charge(state, charge)
            _settle(state, PaymentStatus.SUCCEEDED, None, f"captured {charge.captured_amount}")
            summary.payments_captured.append(payment.payment_id)
        elif charge is not None and charge.status in HELD:
            voided = await self._void(payment, charge)
            apply_charge(state, voided)
            _settle(state, PaymentStatus.FAILED, "reconciled_voided", "authorization voided")
            summary.payments_voided.append(payment.payment_id)
        else:
            found = charge.status if charge else ("declined" if lookup.declined else "no charge")
            _settle(state, PaymentStatus.FAILED, "reconciled_not_charged", found)
            summary.payments_not_charged.append(payment.payment_id)
        await workflow.execute_local_activity(
            record_payment,
            RecordPaymentCommand(state=state, journal=journal),
            **policies.RECORD_CALL,
        )

    async def _void(self, payment: PaymentState, charge: ChargeResult) -> ChargeResult:
        command = ChargeCommand(
            payment_id=payment.payment_id,
            provider=payment.provider,
            reference=charge.reference,
            currency=payment.currency,
            idempotency_key=f"{payment.payment_id}:void",
        )
        return await workflow.execute_activity(
            void_authorization, command, **policies.COMPENSATION_CALL
        )

    async def _refund(self, refund: RefundState, summary: ReconciliationSummary) -> None:
        lookup = await workflow.execute_activity(
            lookup_refund, LookupCommand(provider=refund.provider, id=refund.refund_id), **READ
        )
        found, state = lookup.refund, refund.model_copy(deep=True)
        args = (refund.refund_id, refund.provider, refund.currency, refund.amount)
        if found is not None and found.status == "succeeded":
            state.status, state.provider_reference = RefundStatus.SUCCEEDED, found.reference
            state.failure_code = state.failure_message = None
            journal = [journals.refund_settled(*args)]
            summary.refunds_succeeded.append(refund.refund_id)
        else:
            state.status = RefundStatus.FAILED
            state.failure_code = found.failure_code if found else "reconciled_not_refunded"
            journal = [journals.refund_release(*args)]
            summary.refunds_failed.append(refund.refund_id)
        state.updated_at = workflow.now()
        StepLog(state.steps).instant(RECONCILE_STEP, state.status.value)
        await workflow.execute_local_activity(
            record_refund,
            RecordRefundCommand(state=state, journal=journal),
            **policies.RECORD_CALL,
        )


def _disagrees(payment: PaymentState, charge: ChargeResult) -> bool:
    """The provider's charge is not this payment's money: another currency, another amount,
    or more captured than the payment is for."""
    if charge.currency is not None and charge.currency.upper() != payment.currency.upper():
        return True
    return charge.amount != payment.amount or charge.captured_amount > payment.amount


def _settle(state: PaymentState, status: PaymentStatus, code: str | None, detail: str) -> None:
    state.status, state.failure_code = status, code
    state.failure_message = None if code is None else detail
    state.updated_at = workflow.now()
    StepLog(state.steps).instant(RECONCILE_STEP, detail)
