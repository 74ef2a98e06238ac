"""The steps of the payout saga: each calls one activity and records itself in the state.

Compensations (registered before their step, unwound newest first by ``Saga``):
``reverse_transfer`` takes the transfer back from the connected account (provider, then
ledger ``payout_transfer_reversed``); ``release_payout_reservation`` gives the reserved
money back to the merchant balance (ledger ``payout_release``), and refuses to while a
transfer is still out: the reservation then stays for reconciliation.
"""

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.kit import policies
from workflows.kit.saga import Saga

with workflow.unsafe.imports_passed_through():
    from schemas import steps
    from schemas.domain import journals
    from schemas.ledger import JournalEntryDraft
    from schemas.payments import StepRecord
    from schemas.payouts import (
        PayoutAdmission,
        PayoutInput,
        PayoutState,
        PayoutStatus,
        RecordPayoutCommand,
    )
    from schemas.provider import (
        PayoutCommand,
        PayoutResult,
        TransferCommand,
        TransferResult,
        TransferReversalCommand,
    )
    from workflows.kit.failures import (
        LOCAL_ACTIVITY_FAILURES,
        reason,
        refusal,
        refused,
        rejection,
    )


class PayoutFailed(Exception):
    """The provider refused a step: unwind, then the payout ends ``failed``."""

    def __init__(self, code: str, message: str | None) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class OutcomeUnknown(Exception):
    """A provider call's outcome is unknown after its retries: keep everything as it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PayoutSteps:
    def __init__(self, payout: PayoutInput) -> None:
        now = workflow.now()
        self.payout = payout
        self.state = PayoutState(
            payout_id=payout.payout_id,
            tenant_id=payout.tenant_id,
            account_id=payout.account_id,
            amount=payout.amount or 0,
            currency=payout.currency,
            created_at=now,
            updated_at=now,
        )
        self.saga = Saga(self.state.steps)
        self.rejection: dict | None = None
        self.done = False  # the final state is stored (or the payout was rejected)
        self._bank_account = ""
        self._transfer_outstanding = False

    async def reserve(self) -> bool:
        """Admit the payout; False (status ``rejected``, nothing stored) when refused."""
        self.saga.register(steps.RELEASE_PAYOUT_RESERVATION, self._release)
        started = workflow.now()
        try:
            admission: PayoutAdmission = await workflow.execute_local_activity(
                steps.RESERVE_PAYOUT,
                self.payout,
                result_type=PayoutAdmission,
                **policies.ADMISSION_CALL,
            )
        except LOCAL_ACTIVITY_FAILURES as failure:
            self.rejection = rejection(failure)
            self._log(steps.RESERVE_PAYOUT, started, "failed", self.rejection["code"])
            self.finish(PayoutStatus.REJECTED, self.rejection["code"], self.rejection["message"])
            return False
        admitted = admission.state
        self.state.amount, self.state.provider = admitted.amount, admitted.provider
        # The activity's clock may run ahead of the workflow's: the stored row's time is
        # the floor of every later write (the read model keeps the newest write only).
        self.state.created_at = admitted.created_at
        self.state.updated_at = max(self.state.updated_at, admitted.updated_at)
        self._touch()
        self._bank_account = admission.bank_account
        self._log(steps.RESERVE_PAYOUT, started, "succeeded", f"reserved {admitted.amount}")
        return True

    async def transfer(self) -> None:
        self.saga.register(steps.REVERSE_TRANSFER, self._reverse_transfer)
        command = TransferCommand(
            payout_id=self.payout.payout_id,
            provider=self.state.provider,
            destination=self.payout.account_id,
            amount=self.state.amount,
            currency=self.state.currency,
            idempotency_key=self._key("transfer"),
        )
        try:
            result: TransferResult = await self._call(
                steps.TRANSFER_TO_CONNECTED_ACCOUNT, command, TransferResult
            )
        except PayoutFailed:
            self.saga.discard(steps.REVERSE_TRANSFER)  # refused: nothing was transferred
            raise
        self.state.transfer_reference = result.reference
        self._transfer_outstanding = True
        await self.record([self._journal(journals.payout_transfer)], "ledger: transferred")

    async def pay_out(self) -> list[JournalEntryDraft]:
        """The journal of the paid payout; raises ``PayoutFailed`` when the bank refused."""
        command = PayoutCommand(
            payout_id=self.payout.payout_id,
            provider=self.state.provider,
            destination=self.payout.account_id,
            bank_account=self._bank_account,
            amount=self.state.amount,
            currency=self.state.currency,
            idempotency_key=self._key("payout"),
        )
        result: PayoutResult = await self._call(steps.PAY_OUT_TO_BANK, command, PayoutResult)
        self.state.payout_reference = result.reference
        if result.status != "paid":
            bank = self.state.steps[-1]
            bank.outcome, bank.detail = "failed", f"{result.failure_code}: {result.reference}"
            raise PayoutFailed(result.failure_code or "payout_failed", result.failure_message)
        self.saga.discard(steps.REVERSE_TRANSFER)
        self.saga.discard(steps.RELEASE_PAYOUT_RESERVATION)
        self._transfer_outstanding = False
        return [self._journal(journals.payout_paid)]

    async def record(self, journal: list[JournalEntryDraft], detail: str, log: bool = True):
        """Store the state (this step included) and post the journal in one transaction."""
        started = workflow.now()
        stored = self.state.model_copy(deep=True)
        stored.updated_at = max(stored.updated_at, started)
        if log:
            stored.steps.append(
                StepRecord(
                    name=steps.RECORD_PAYOUT,
                    outcome="succeeded",
                    started_at=started,
                    finished_at=started,
                    detail=detail,
                )
            )
        command = RecordPayoutCommand(state=stored, journal=journal)
        await workflow.execute_local_activity(steps.RECORD_PAYOUT, command, **policies.RECORD_CALL)
        self.state.updated_at = stored.updated_at
        if log:
            self.state.steps.append(stored.steps[-1])

    def finish(self, status: PayoutStatus, code: str | None = None, message: str | None = None):
        self.state.status = status
        self.state.failure_code, self.state.failure_message = code, message
        self._touch()

    async def _reverse_transfer(self) -> str | None:
        if self.state.transfer_reference is None:
            return None
        command = TransferReversalCommand(
            payout_id=self.payout.payout_id,
            provider=self.state.provider,
            transfer_reference=self.state.transfer_reference,
            amount=self.state.amount,
            currency=self.state.currency,
            idempotency_key=self._key("reverse_transfer"),
        )
        await workflow.execute_activity(
            steps.REVERSE_TRANSFER,
            command,
            result_type=TransferResult,
            **policies.COMPENSATION_CALL,
        )
        self._transfer_outstanding = False
        await self.record([self._journal(journals.payout_transfer_reversed)], "", log=False)
        return f"reversed {self.state.amount} from {self.payout.account_id}"

    async def _release(self) -> str | None:
        if self._transfer_outstanding:
            raise ApplicationError("the transfer was not reversed: the reservation stays")
        self._touch()
        await workflow.execute_local_activity(
            steps.RELEASE_PAYOUT_RESERVATION, self.state, **policies.RECORD_CALL
        )
        return f"released {self.state.amount}"

    async def _call(self, name: str, command, result_type):
        """A provider call: its result, ``PayoutFailed`` on a refusal, else ``OutcomeUnknown``."""
        started = workflow.now()
        deadline = self.payout.provider_deadline
        try:
            result = await workflow.execute_activity(
                name,
                command,
                result_type=result_type,
                **{**policies.PROVIDER_CALL, "schedule_to_close_timeout": deadline},
            )
        except ActivityError as failure:
            self._log(name, started, "failed", reason(failure))
            if refused(failure):
                refused_by = refusal(failure.cause)
                raise PayoutFailed(refused_by.code, refused_by.message) from None
            raise OutcomeUnknown(reason(failure)) from None
        self._log(name, started, "succeeded", f"{result.status} {result.reference}")
        return result

    def _journal(self, entry) -> JournalEntryDraft:
        state = self.state
        return entry(
            state.payout_id, state.account_id, state.provider, state.currency, state.amount
        )

    def _key(self, step: str) -> str:
        return f"{self.payout.payout_id}:{step}"

    def _touch(self) -> None:
        self.state.updated_at = max(self.state.updated_at, workflow.now())

    def _log(self, name: str, started: datetime, outcome: str, detail: str | None) -> None:
        self.state.steps.append(
            StepRecord(
                name=name,
                outcome=outcome,
                started_at=started,
                finished_at=workflow.now(),
                detail=detail,
            )
        )
