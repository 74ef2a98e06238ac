"""The steps of the payment saga: each calls one activity and records itself in the state.
The workflow registers their compensations (``void``, ``refund``) on its saga."""

from datetime import datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError
from temporalio.exceptions import ApplicationError

from workflows.kit import policies
from workflows.kit import search_attributes as sa
from workflows.kit.failures import LOCAL_ACTIVITY_FAILURES
from workflows.kit.failures import cause_of
from workflows.kit.failures import reason
from workflows.kit.failures import refusal
from workflows.kit.failures import retried
from workflows.kit.outcomes import StepFailed
from workflows.kit.patches import PROVIDER_FAILOVER
from workflows.kit.patches import PROVIDER_FAST_PATH
from workflows.kit.step_log import StepLog
from workflows.payment.activities import authorize_payment
from workflows.payment.activities import capture_payment
from workflows.payment.activities import confirm_payment_action
from workflows.payment.activities import record_payment
from workflows.payment.activities import refund_payment
from workflows.payment.activities import screen_payment
from workflows.payment.activities import void_authorization

with workflow.unsafe.imports_passed_through():
    from schemas import errors
    from schemas.domain import journals
    from schemas.fraud import ScreeningCommand
    from schemas.ledger import JournalEntryDraft
    from schemas.ledger import RecordPaymentCommand
    from schemas.payments import PaymentInput
    from schemas.payments import PaymentState
    from schemas.payments import PaymentStatus
    from schemas.payments import ProviderAttempt
    from schemas.provider import AuthorizeCommand
    from schemas.provider import ChargeCommand
    from schemas.provider import ChargeResult
    from schemas.risk_rules import RiskAction


# What ``_provider_step`` answers when the payment should go to its next provider.
FAILED_OVER = ChargeResult(reference="", status="requires_action", amount=0)


def _unavailable_before_applying(cause: BaseException | None) -> bool:
    """The activity proved nothing was applied: ``Unavailable`` on its first attempt, made
    final by the activity only then (a retry may follow an unknown outcome)."""
    return (
        isinstance(cause, ApplicationError)
        and cause.type == errors.UNAVAILABLE
        and cause.non_retryable
    )


def apply_charge(state: PaymentState, charge: ChargeResult) -> None:
    """What the provider's answer says of the payment's money."""
    state.provider_reference = charge.reference
    state.authorized_amount = charge.authorized_amount
    state.captured_amount = charge.captured_amount
    state.refunded_amount = charge.refunded_amount
    state.fee = charge.fee


class PaymentSteps:
    def __init__(self, payment: PaymentInput, state: PaymentState) -> None:
        self.payment = payment
        self.state = state
        self.log = StepLog(state.steps)
        self._recorded_final = False
        self._hold_for_review = False
        self._three_d_secure = False

    async def screen(self) -> RiskAction | None:
        """The fraud check's action for the payment: ``allow``, ``review`` or ``require_3ds``;
        None when it blocked the payment (declined ``fraud_{rule}``)."""
        command = ScreeningCommand(
            state=self.state,
            payment_method=self.payment.payment_method,
            signals=self.payment.risk_signals,
        )
        started = workflow.now()
        decision = await workflow.execute_local_activity(
            screen_payment, command, **policies.LOCAL_CALL
        )
        self.state.risk = decision
        self.log.ran(screen_payment, started, "succeeded", decision.reason or decision.action)
        if decision.action == "block":
            self.finish(PaymentStatus.DECLINED, f"fraud_{decision.rule}", decision.reason)
            return None
        # Held for review: authorized without capture; 3-D Secure: the provider challenges.
        self._hold_for_review = decision.action == "review"
        self._three_d_secure = decision.action == "require_3ds"
        return decision.action

    async def authorize(self) -> ChargeResult | None:
        fallbacks = list(self.payment.fallback_providers)
        while True:
            charge = await self._provider_step(
                authorize_payment,
                self._authorize_command(may_fail_over=bool(fallbacks)),
                "authorization_failed",
                call=self._call_provider_locally_first,
            )
            if charge is not FAILED_OVER:
                return charge
            # Nothing was authorized at the unavailable provider: the next one may charge.
            workflow.patched(PROVIDER_FAILOVER)
            self.state.provider = fallbacks.pop(0)
            workflow.upsert_search_attributes([sa.PAYMENT_PROVIDER.value_set(self.state.provider)])

    def _authorize_command(self, may_fail_over: bool) -> AuthorizeCommand:
        first = self.state.provider == self.payment.provider
        return AuthorizeCommand(
            payment_id=self.payment.payment_id,
            tenant_id=self.payment.tenant_id,
            provider=self.state.provider,
            amount=self.payment.amount,
            currency=self.payment.currency,
            payment_method=self.payment.payment_method,
            customer_id=self.payment.customer_id,
            # A payment held for review is captured only once an operator approved it.
            capture=self.payment.capture_method == "automatic" and not self._hold_for_review,
            # Each provider gets its own key; the first keeps the key payments always had.
            idempotency_key=self._key("authorize" if first else f"authorize:{self.state.provider}"),
            may_fail_over=may_fail_over,
            three_d_secure=self._three_d_secure,
            provider_customer=self.payment.provider_customer,
            off_session=self.payment.off_session,
        )

    async def confirm_action(self, attempt: int) -> ChargeResult | None:
        return await self._provider_step(
            confirm_payment_action,
            self._charge_command(f"confirm:{attempt}"),
            "action_failed",
        )

    async def capture(self, amount: int) -> None:
        self._set_status(PaymentStatus.PROCESSING)
        command = self._charge_command("capture", amount)
        started = workflow.now()
        try:
            charge = await self._call_provider(capture_payment, command)
        except ActivityError as failure:
            self.log.ran(capture_payment, started, "failed", reason(failure))
            raise StepFailed(PaymentStatus.FAILED, "capture_failed", reason(failure)) from None
        self.log.ran(capture_payment, started, "succeeded", f"captured {charge.captured_amount}")
        self._apply(charge)

    async def post_to_ledger(self) -> None:
        # The provider that authorized holds the money: after a failover it is not the
        # requested one. Only the local activity's input changes, so histories replay as is.
        journal = journals.capture(
            self.payment.payment_id,
            self.state.provider,
            self.payment.currency,
            self.state.captured_amount,
            self.state.fee,
        )
        # The read model must hold exactly the state the workflow ends with, so that state
        # (this step included) is built before the write that stores it.
        started = workflow.now()
        final = self.state.model_copy(deep=True)
        final.status, final.updated_at = PaymentStatus.SUCCEEDED, started
        recorded = StepLog(final.steps).instant(record_payment, "ledger posted")
        try:
            await self._record(final, journal)
        except LOCAL_ACTIVITY_FAILURES as failure:
            self.log.ran(record_payment, started, "failed", reason(failure))
            raise StepFailed(PaymentStatus.FAILED, "ledger_failed", reason(failure)) from None
        self.state.steps.append(recorded)
        self._recorded_final = True
        self._set_status(PaymentStatus.SUCCEEDED, at=started)

    async def pause(self, status: PaymentStatus) -> None:
        self._set_status(status)
        await self._record_quietly()

    def finish(self, status: PaymentStatus, code: str | None = None, message: str | None = None):
        self.state.failure_code = code
        self.state.failure_message = message
        self._set_status(status)

    async def record_final(self) -> None:
        if not self._recorded_final:
            await self._record_quietly()

    # ----------------------------------------------------------------- compensations

    async def void(self) -> str | None:
        if self.state.provider_reference is None:
            return None
        charge = await self._call_provider(
            void_authorization, self._charge_command("void"), compensation=True
        )
        self._apply(charge)
        return f"voided {charge.reference}"

    async def refund(self) -> str | None:
        charge = await self._call_provider(
            refund_payment,
            self._charge_command("refund", self.state.captured_amount),
            compensation=True,
        )
        self._apply(charge)
        return f"refunded {charge.refunded_amount}"

    # ----------------------------------------------------------------- calls

    async def _provider_step(
        self, step, command, failure_code: str, call=None
    ) -> ChargeResult | None:
        """Run an authorize-like call (through ``call``, ``_call_provider`` by default): a
        decline ends the payment, other failures unwind.

        Answers ``FAILED_OVER`` when the provider was unavailable before applying anything
        and the command allowed failing over (``may_fail_over``)."""
        started = workflow.now()
        try:
            charge = await (call or self._call_provider)(step, command)
        except LOCAL_ACTIVITY_FAILURES as failure:
            cause = cause_of(failure)
            self.log.ran(step, started, "failed", reason(failure))
            if isinstance(cause, ApplicationError) and cause.type == errors.DECLINED:
                self._attempted("declined", cause.message)
                decline = refusal(cause)
                self.finish(PaymentStatus.DECLINED, decline.code, decline.message)
                return None
            if getattr(command, "may_fail_over", False) and _unavailable_before_applying(cause):
                self._attempted("unavailable", cause.message)
                return FAILED_OVER
            self._attempted("failed", reason(failure))
            # Only a refusal proves nothing happened: after a timeout (the call's deadline) or
            # an unknown outcome, an earlier attempt may have been applied.
            refused = isinstance(cause, ApplicationError) and cause.type == errors.INVALID_REQUEST
            status = PaymentStatus.FAILED if refused else PaymentStatus.REQUIRES_ATTENTION
            raise StepFailed(status, failure_code, reason(failure)) from None
        self.log.ran(step, started, "succeeded", charge.status)
        if step is authorize_payment:
            self._attempted("succeeded", charge.status)
        self._apply(charge)
        return charge

    def _attempted(self, outcome: str, detail: str | None) -> None:
        attempts = self.state.provider_attempts
        provider = self.state.provider
        if attempts and attempts[-1].provider == provider and attempts[-1].outcome == outcome:
            return  # a later step of the same attempt (3-D Secure confirmation)
        attempts.append(ProviderAttempt(provider=provider, outcome=outcome, detail=detail))

    async def _call_provider(self, step, command, compensation: bool = False) -> ChargeResult:
        if compensation:
            options = policies.COMPENSATION_CALL
        else:
            options = policies.provider_call(self.payment.provider_deadline)
        options = policies.keyed_by_tenant(options, self.payment.tenant_id)
        return await workflow.execute_activity(step, command, **options)

    async def _call_provider_locally_first(self, step, command) -> ChargeResult:
        """The call's first attempt as a local activity, in this workflow task; the regular
        activity (``_call_provider``: its retries, its fairness key) only after a failure
        that would be retried. A final one is the step's answer as it is.

        A call that may fail over takes the regular activity at once: a local attempt lost
        with its worker runs again as attempt 1, whose ``Unavailable`` would fail over
        although the lost run may have charged; the regular activity's rerun is attempt 2."""
        if command.may_fail_over or not workflow.patched(PROVIDER_FAST_PATH):
            return await self._call_provider(step, command)
        options = policies.local_provider_attempt(self.payment.provider_deadline)
        try:
            return await workflow.execute_local_activity(step, command, **options)
        except LOCAL_ACTIVITY_FAILURES as failure:
            if not retried(failure):
                raise
        # The same command (``may_fail_over`` off), so the same idempotency key.
        return await self._call_provider(step, command)

    async def _record(self, state: PaymentState, journal: list[JournalEntryDraft]) -> None:
        command = RecordPaymentCommand(state=state, journal=journal)
        await workflow.execute_local_activity(record_payment, command, **policies.LOCAL_CALL)

    async def _record_quietly(self) -> None:
        """The read model trails the workflow; failing to update it must not fail the payment."""
        started = workflow.now()
        try:
            await self._record(self.state, [])
        except LOCAL_ACTIVITY_FAILURES as failure:
            self.log.ran(record_payment, started, "failed", reason(failure))

    def _apply(self, charge: ChargeResult) -> None:
        apply_charge(self.state, charge)
        # While the customer acts (3-D Secure, PayPal approval), where they go to do it.
        self.state.next_action_url = charge.next_action_url

    def _charge_command(self, step: str, amount: int | None = None) -> ChargeCommand:
        return ChargeCommand(
            payment_id=self.payment.payment_id,
            provider=self.state.provider,
            reference=self.state.provider_reference or "",
            amount=amount,
            currency=self.payment.currency,
            idempotency_key=self._key(step),
        )

    def _key(self, step: str) -> str:
        return f"{self.payment.payment_id}:{step}"

    def _set_status(self, status: PaymentStatus, at: datetime | None = None) -> None:
        self.state.status = status
        self.state.updated_at = at or workflow.now()
        workflow.upsert_search_attributes([sa.PAYMENT_STATUS.value_set(status.value)])
