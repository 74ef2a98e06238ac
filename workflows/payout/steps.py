"""The steps of the payout saga: each calls one activity and records itself in the state.

Compensations (registered by the workflow before their step, unwound newest first):
``reverse_transfer`` takes the transfer back from the connected account (provider, then
ledger ``payout_transfer_reversed``); ``release_payout_reservation`` gives the reserved
money back to the merchant balance (ledger ``payout_release``), and refuses to while a
transfer is still out: the reservation then stays for reconciliation.
"""

from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import ApplicationError

from workflows.kit import policies
from workflows.kit.outcomes import OutcomeUnknown
from workflows.kit.outcomes import StepFailed
from workflows.kit.step_log import StepLog
from workflows.payout.activities import pay_out_to_bank
from workflows.payout.activities import record_payout
from workflows.payout.activities import release_payout_reservation
from workflows.payout.activities import reserve_payout
from workflows.payout.activities import reverse_transfer
from workflows.payout.activities import transfer_to_connected_account

with workflow.unsafe.imports_passed_through():
    from schemas.domain import journals
    from schemas.ledger import JournalEntryDraft
    from schemas.payouts import PayoutInput
    from schemas.payouts import PayoutState
    from schemas.payouts import PayoutStatus
    from schemas.payouts import RecordPayoutCommand
    from schemas.provider import PayoutCommand
    from schemas.provider import TransferCommand
    from schemas.provider import TransferReversalCommand
    from workflows.kit.failures import admit
    from workflows.kit.failures import reason
    from workflows.kit.failures import refusal
    from workflows.kit.failures import refused

Command = TypeVar("Command", TransferCommand, PayoutCommand, TransferReversalCommand)


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
            method=payout.method,
            created_at=now,
            updated_at=now,
        )
        self.log = StepLog(self.state.steps)
        self.rejection: dict | None = None
        self.done = False  # the final state is stored (or the payout was rejected)
        self._bank_account = ""
        self._destination = payout.account_id
        self._transfer_outstanding = False

    async def reserve(self) -> bool:
        """Admit the payout; False (status ``rejected``, nothing stored) when refused."""
        started = workflow.now()
        admission, self.rejection = await admit(reserve_payout, self.payout)
        if self.rejection is not None:
            self.log.ran(reserve_payout, started, "failed", self.rejection["code"])
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
        # The provider's id of the account; ours for accounts made before providers made them.
        self._destination = admission.provider_account or self.payout.account_id
        self.log.ran(reserve_payout, started, "succeeded", f"reserved {admitted.amount}")
        return True

    async def transfer(self) -> None:
        command = self._command(TransferCommand, "transfer", destination=self._destination)
        result = await self._call(transfer_to_connected_account, command)
        self.state.transfer_reference = result.reference
        self._transfer_outstanding = True
        await self.record([self._journal(journals.payout_transfer)], "ledger: transferred")

    async def pay_out(self) -> list[JournalEntryDraft]:
        """The journal of the paid payout; raises ``StepFailed`` when the bank refused."""
        command = self._command(
            PayoutCommand,
            "payout",
            destination=self._destination,
            bank_account=self._bank_account,
            method=self.payout.method,
        )
        result = await self._call(pay_out_to_bank, command)
        self.state.payout_reference = result.reference
        self.state.arrival_date = result.arrival_date
        if result.status != "paid":
            bank = self.state.steps[-1]
            bank.outcome, bank.detail = "failed", f"{result.failure_code}: {result.reference}"
            raise StepFailed(
                PayoutStatus.FAILED, result.failure_code or "payout_failed", result.failure_message
            )
        self._transfer_outstanding = False
        return [self._journal(journals.payout_paid)]

    async def record(self, journal: list[JournalEntryDraft], detail: str, log: bool = True):
        """Store the state (this step included) and post the journal in one transaction."""
        stored = self.state.model_copy(deep=True)
        stored.updated_at = max(stored.updated_at, workflow.now())
        recorded = StepLog(stored.steps).instant(record_payout, detail) if log else None
        command = RecordPayoutCommand(state=stored, journal=journal)
        await workflow.execute_local_activity(record_payout, command, **policies.RECORD_CALL)
        self.state.updated_at = stored.updated_at
        if recorded is not None:
            self.state.steps.append(recorded)

    def finish(self, status: PayoutStatus, code: str | None = None, message: str | None = None):
        self.state.status = status
        self.state.failure_code, self.state.failure_message = code, message
        self._touch()

    # ----------------------------------------------------------------- compensations

    async def reverse_transfer(self) -> str:
        command = self._command(
            TransferReversalCommand,
            "reverse_transfer",
            transfer_reference=self.state.transfer_reference,
        )
        options = policies.keyed_by_tenant(policies.COMPENSATION_CALL, self.payout.tenant_id)
        await workflow.execute_activity(reverse_transfer, command, **options)
        self._transfer_outstanding = False
        await self.record([self._journal(journals.payout_transfer_reversed)], "", log=False)
        return f"reversed {self.state.amount} from {self.payout.account_id}"

    async def release(self) -> str:
        if self._transfer_outstanding:
            raise ApplicationError("the transfer was not reversed: the reservation stays")
        self._touch()
        await workflow.execute_local_activity(
            release_payout_reservation, self.state, **policies.RECORD_CALL
        )
        return f"released {self.state.amount}"

    # ----------------------------------------------------------------- calls

    async def _call(self, step, command):
        """A provider call: its result, ``StepFailed`` on a refusal, else ``OutcomeUnknown``."""
        started = workflow.now()
        try:
            options = policies.provider_call(self.payout.provider_deadline)
            result = await workflow.execute_activity(
                step, command, **policies.keyed_by_tenant(options, self.payout.tenant_id)
            )
        except ActivityError as failure:
            self.log.ran(step, started, "failed", reason(failure))
            if refused(failure):
                refused_by = refusal(failure.cause)
                raise StepFailed(PayoutStatus.FAILED, refused_by.code, refused_by.message) from None
            raise OutcomeUnknown(reason(failure)) from None
        self.log.ran(step, started, "succeeded", f"{result.status} {result.reference}")
        return result

    def _journal(self, entry) -> JournalEntryDraft:
        state = self.state
        return entry(
            state.payout_id, state.account_id, state.provider, state.currency, state.amount
        )

    def _command(self, command_type: type[Command], step: str, **where) -> Command:
        """A provider command of ``step``: the payout's id, provider and money, where the money
        goes, and the step's own idempotency key."""
        return command_type(
            payout_id=self.payout.payout_id,
            provider=self.state.provider,
            amount=self.state.amount,
            currency=self.state.currency,
            idempotency_key=f"{self.payout.payout_id}:{step}",
            **where,
        )

    def _touch(self) -> None:
        self.state.updated_at = max(self.state.updated_at, workflow.now())
