"""RefundWorkflow: reserve the refundable amount → provider refund → ledger, as a saga.

A refusal by the provider releases the reservation (the compensation of the reserve step);
an unknown outcome keeps it and leaves the refund to reconciliation, which asks the provider.
"""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas import errors, steps
    from schemas.domain import journals
    from schemas.ledger import JournalEntryDraft
    from schemas.payments import StepRecord
    from schemas.provider import RefundCommand, RefundResult
    from schemas.refunds import RecordRefundCommand, RefundInput, RefundState, RefundStatus
    from workflows.kit import policies
    from workflows.kit.failures import LOCAL_ACTIVITY_FAILURES, reason, refused, rejection


@workflow.defn
class RefundWorkflow:
    def __init__(self) -> None:
        self._state: RefundState | None = None
        self._rejection: dict | None = None
        self._settled = False  # the outcome is in the read model and the ledger
        self._deadline = policies.PROVIDER_CALL["schedule_to_close_timeout"]

    @workflow.run
    async def run(self, refund: RefundInput) -> RefundState:
        now = workflow.now()
        self._deadline = refund.provider_deadline
        self._state = RefundState(
            refund_id=refund.refund_id,
            tenant_id=refund.tenant_id,
            payment_id=refund.payment_id,
            reason=refund.reason,
            created_at=now,
            updated_at=now,
        )
        if await self._reserve(refund):
            journal = await self._refund_at_provider()
            await self._record(journal)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _reserve(self, refund: RefundInput) -> bool:
        started = workflow.now()
        try:
            admitted: RefundState = await workflow.execute_local_activity(
                steps.RESERVE_REFUND, refund, result_type=RefundState, **policies.ADMISSION_CALL
            )
        except LOCAL_ACTIVITY_FAILURES as failure:
            self._rejection = rejection(failure)
            self._state.status = RefundStatus.REJECTED
            self._state.failure_code = self._rejection["code"]
            self._state.failure_message = self._rejection["message"]
            self._log(steps.RESERVE_REFUND, started, "failed", self._rejection["code"])
            return False
        admitted.steps = self._state.steps
        self._state = admitted
        self._log(steps.RESERVE_REFUND, started, "succeeded", f"reserved {admitted.amount}")
        return True

    async def _refund_at_provider(self) -> list[JournalEntryDraft]:
        state = self._state
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
            result: RefundResult = await workflow.execute_activity(
                steps.CREATE_REFUND,
                command,
                result_type=RefundResult,
                **{**policies.PROVIDER_CALL, "schedule_to_close_timeout": self._deadline},
            )
        except ActivityError as failure:
            self._log(steps.CREATE_REFUND, started, "failed", reason(failure))
            if not refused(failure):
                self._finish(RefundStatus.REQUIRES_ATTENTION, "outcome_unknown", reason(failure))
                return []
            self._finish(RefundStatus.FAILED, "provider_refused", reason(failure))
            return [self._release()]
        state.provider_reference = result.reference
        if result.status != "succeeded":
            self._log(steps.CREATE_REFUND, started, "failed", result.failure_code)
            self._finish(RefundStatus.FAILED, result.failure_code, result.failure_message)
            return [self._release()]
        self._log(steps.CREATE_REFUND, started, "succeeded", f"refunded {result.amount}")
        self._finish(RefundStatus.SUCCEEDED)
        return [
            journals.refund_settled(state.refund_id, state.provider, state.currency, state.amount)
        ]

    def _release(self) -> JournalEntryDraft:
        state = self._state
        return journals.refund_release(
            state.refund_id, state.provider, state.currency, state.amount
        )

    async def _record(self, journal: list[JournalEntryDraft]) -> None:
        started = workflow.now()
        final = self._state.model_copy(deep=True)
        final.steps.append(
            StepRecord(
                name=steps.RECORD_REFUND,
                outcome="succeeded",
                started_at=started,
                finished_at=started,
                detail="ledger posted" if journal else "state recorded",
            )
        )
        command = RecordRefundCommand(state=final, journal=journal)
        await workflow.execute_local_activity(steps.RECORD_REFUND, command, **policies.RECORD_CALL)
        self._state = final
        self._settled = True

    def _finish(self, status: RefundStatus, code: str | None = None, message: str | None = None):
        self._state.status = status
        self._state.failure_code, self._state.failure_message = code, message
        self._state.updated_at = workflow.now()

    def _log(self, name: str, started, outcome: str, detail: str | None) -> None:
        self._state.steps.append(
            StepRecord(
                name=name,
                outcome=outcome,
                started_at=started,
                finished_at=workflow.now(),
                detail=detail,
            )
        )

    @workflow.query
    def state(self) -> RefundState:
        return self._state

    @workflow.update
    async def wait_for_result(self) -> RefundState:
        """The refund once its outcome is booked (or it needs attention); raises
        ``Rejected`` with ``{code, message}`` when it was not admitted."""
        await workflow.wait_condition(lambda: self._settled or self._rejection is not None)
        if self._rejection is not None:
            raise ApplicationError(
                self._rejection["message"], self._rejection, type=errors.REJECTED
            )
        return self._state
