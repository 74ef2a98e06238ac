"""DisputeWorkflow: one provider dispute, started (or signaled) by its provider's events.

    event ──> sync_dispute (read at the provider, write the row, book its funds) ──> …
    submit_evidence / accept (updates) ──> the provider ──> sync_dispute
    ends once the provider says the dispute is closed (won, lost, warning_closed)

Every event is a hint: the saga reads the dispute again before it writes anything, and each
balance movement is booked under its own key, so duplicates and reordering are harmless. An
event after the end starts a new run, which reads, finds it all booked, and ends.
"""

import hashlib

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas import errors
    from schemas.disputes import DisputeActionCommand
    from schemas.disputes import DisputeEvidence
    from schemas.disputes import DisputeInput
    from schemas.disputes import DisputeState
    from schemas.disputes import SyncDisputeCommand
    from schemas.provider_events import ProviderEvent
    from workflows.dispute.activities import accept_dispute
    from workflows.dispute.activities import submit_dispute_evidence
    from workflows.dispute.activities import sync_dispute
    from workflows.kit import policies
    from workflows.kit.failures import rejected


@workflow.defn
class DisputeWorkflow:
    def __init__(self) -> None:
        self._dispute: DisputeInput | None = None
        self._state: DisputeState | None = None
        self._stale = True  # the provider may know more than the last read

    @workflow.run
    async def run(self, dispute: DisputeInput) -> DisputeState:
        self._dispute = dispute
        while True:
            await workflow.wait_condition(lambda: self._stale)
            self._stale = False
            self._state = await self._sync()
            if self._state.status.is_final and not self._stale:
                break
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    @workflow.signal
    def provider_event(self, event: ProviderEvent) -> None:
        self._stale = True

    @workflow.query
    def state(self) -> DisputeState | None:
        return self._state

    @workflow.update
    async def submit_evidence(self, evidence: DisputeEvidence) -> DisputeState:
        return await self._answer(submit_dispute_evidence, "evidence", evidence)

    @submit_evidence.validator
    def _evidence_allowed(self, evidence: DisputeEvidence) -> None:
        self._refuse_when_closed()

    @workflow.update
    async def accept(self) -> DisputeState:
        return await self._answer(accept_dispute, "accept", None)

    @accept.validator
    def _accept_allowed(self) -> None:
        self._refuse_when_closed()

    def _refuse_when_closed(self) -> None:
        if self._state is not None and self._state.status.is_final:
            raise rejected(
                {"code": "dispute_closed", "message": f"the dispute is {self._state.status}"}
            )

    async def _answer(self, activity, step: str, evidence: DisputeEvidence | None) -> DisputeState:
        """Send the merchant's answer to the provider, then read the dispute again. The
        provider's key is the dispute's and the client's request's (the update id carries its
        Idempotency-Key): a retried call is applied once."""
        assert self._dispute is not None
        update = workflow.current_update_info()
        # Hashed: a client's key may be long, a provider's idempotency key is bounded.
        request = hashlib.sha256((update.id if update else "").encode()).hexdigest()[:24]
        command = DisputeActionCommand(
            provider=self._dispute.provider,
            provider_reference=self._dispute.provider_reference,
            idempotency_key=f"{self._dispute.dispute_id}:{step}:{request}",
            evidence=evidence,
        )
        try:
            await workflow.execute_activity(activity, command, **policies.PROVIDER_CALL)
        except ActivityError as failure:
            cause = failure.cause
            if isinstance(cause, ApplicationError) and cause.type == errors.INVALID_REQUEST:
                raise rejected({"code": "dispute_refused", "message": cause.message}) from None
            raise
        self._state = await self._sync()
        self._stale = True  # let the loop see a close this answer caused
        return self._state

    async def _sync(self) -> DisputeState:
        assert self._dispute is not None
        return await workflow.execute_activity(
            sync_dispute,
            SyncDisputeCommand(dispute=self._dispute),
            **policies.COMPENSATION_CALL,
        )
