"""The steps of the refund saga: each calls one activity and records itself in the state.

The compensation of the reserve step, the release of the reservation, is a journal entry
posted with the refund's final state (``record_refund``), so it calls nothing itself.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.kit import policies
from workflows.kit.failures import admit
from workflows.kit.failures import reason
from workflows.kit.failures import refused
from workflows.kit.outcomes import OutcomeUnknown
from workflows.kit.outcomes import StepFailed
from workflows.kit.step_log import StepLog
from workflows.refund.activities import create_refund
from workflows.refund.activities import record_refund
from workflows.refund.activities import reserve_refund

with workflow.unsafe.imports_passed_through():
    from schemas.domain import journals
    from schemas.ledger import JournalEntryDraft
    from schemas.provider import RefundCommand
    from schemas.refunds import RecordRefundCommand
    from schemas.refunds import RefundInput
    from schemas.refunds import RefundState
    from schemas.refunds import RefundStatus

# The name the release of the reservation is recorded under.
RELEASE_RESERVATION = "release_refund_reservation"


class RefundSteps:
    def __init__(self, refund: RefundInput) -> None:
        now = workflow.now()
        self.refund = refund
        self.state = RefundState(
            refund_id=refund.refund_id,
            tenant_id=refund.tenant_id,
            payment_id=refund.payment_id,
            reason=refund.reason,
            created_at=now,
            updated_at=now,
        )
        self.log = StepLog(self.state.steps)
        self.rejection: dict | None = None
        self.settled = False  # the outcome is in the read model and the ledger
        self._journal: list[JournalEntryDraft] = []

    async def reserve(self) -> bool:
        """Admit the refund; False (status ``rejected``, nothing stored) when refused."""
        started = workflow.now()
        admitted, self.rejection = await admit(reserve_refund, self.refund)
        if self.rejection is not None:
            self.state.status = RefundStatus.REJECTED
            self.state.failure_code = self.rejection["code"]
            self.state.failure_message = self.rejection["message"]
            self.log.ran(reserve_refund, started, "failed", self.rejection["code"])
            return False
        admitted.steps = self.state.steps
        self.state = admitted
        self.log.ran(reserve_refund, started, "succeeded", f"reserved {admitted.amount}")
        return True

    async def refund_at_provider(self) -> None:
        """Raises ``StepFailed`` when the provider refused or failed the refund, and
        ``OutcomeUnknown`` when nobody knows whether it went through."""
        state = self.state
        command = RefundCommand(
            refund_id=state.refund_id,
            payment_id=state.payment_id,
            provider=state.provider,
            charge_reference=state.charge_reference or "",
            amount=state.amount,
            currency=state.currency,
            idempotency_key=f"{state.refund_id}:refund",
            tenant_id=state.tenant_id,
        )
        started = workflow.now()
        try:
            options = policies.provider_call(self.refund.provider_deadline)
            result = await workflow.execute_activity(
                create_refund, command, **policies.keyed_by_tenant(options, state.tenant_id)
            )
        except ActivityError as failure:
            self.log.ran(create_refund, started, "failed", reason(failure))
            if not refused(failure):
                raise OutcomeUnknown(reason(failure)) from None
            raise StepFailed(RefundStatus.FAILED, "provider_refused", reason(failure)) from None
        state.provider_reference = result.reference
        if result.status != "succeeded":
            self.log.ran(create_refund, started, "failed", result.failure_code)
            raise StepFailed(RefundStatus.FAILED, result.failure_code, result.failure_message)
        self.log.ran(create_refund, started, "succeeded", f"refunded {result.amount}")
        self.finish(RefundStatus.SUCCEEDED)
        self._journal.append(
            journals.refund_settled(state.refund_id, state.provider, state.currency, state.amount)
        )

    async def release(self) -> str:
        """The compensation of ``reserve``: the reserved amount is refundable again."""
        state = self.state
        self._journal.append(
            journals.refund_release(state.refund_id, state.provider, state.currency, state.amount)
        )
        return f"released {state.amount}"

    async def record(self) -> None:
        """Store the final state (this step included) and post the journal in one write."""
        final = self.state.model_copy(deep=True)
        StepLog(final.steps).instant(
            record_refund, "ledger posted" if self._journal else "state recorded"
        )
        command = RecordRefundCommand(state=final, journal=self._journal)
        await workflow.execute_local_activity(record_refund, command, **policies.RECORD_CALL)
        self.state = final
        self.settled = True

    def finish(self, status: RefundStatus, code: str | None = None, message: str | None = None):
        self.state.status = status
        self.state.failure_code, self.state.failure_message = code, message
        self.state.updated_at = workflow.now()
