"""InstallmentPlanWorkflow: an invoice (or an amount) paid in installments, in order.

    admit (lock the invoice) ─> for each installment, in order:
        wait for its due date ─> charge (a child PaymentWorkflow per attempt)
            failed ─> dunning: retry at first failure + retry_delays[i] (plan past_due)
                   └> exhausted: plan defaulted; an operator resolves (retry/waive/cancel)
    ─> completed (every installment paid or waived) or canceled

One loop does all the charging; updates (``pay``, ``resolve``, ``cancel``) only ask it,
so two charges of one plan never run at once. Every change is recorded (read model and
invoice) and filed (search attributes) before anyone is answered.
"""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from schemas.installments import CancelInstallmentPlanRequest
    from schemas.installments import EarlyPaymentResult
    from schemas.installments import InstallmentPlanInput
    from schemas.installments import InstallmentPlanState
    from schemas.installments import InstallmentPlanStatus
    from schemas.installments import OnSessionRetryResult
    from schemas.installments import PayInstallmentsRequest
    from schemas.installments import ResolveRequest
    from workflows.installment_plan.steps import InstallmentSteps
    from workflows.installment_plan.steps import invalid
    from workflows.kit import search_attributes as sa
    from workflows.kit.failures import rejected
    from workflows.kit.waits import wait_within

Status = InstallmentPlanStatus


def filed_at_start(plan: InstallmentPlanInput) -> TypedSearchAttributes:
    """Set by the starter, so operators find the plan before a worker runs it."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(sa.TENANT_ID, plan.tenant_id),
            SearchAttributePair(sa.CUSTOMER_ID, plan.customer_id),
            SearchAttributePair(sa.CURRENCY, plan.currency),
            SearchAttributePair(sa.AMOUNT_MINOR, plan.total),
            SearchAttributePair(sa.INSTALLMENT_PLAN_STATUS, Status.ACTIVE.value),
            SearchAttributePair(sa.INSTALLMENTS_PAID, 0),
            SearchAttributePair(sa.NEXT_CHARGE_AT, plan.installments[0].due_at),
        ]
    )


class _Payment:
    def __init__(self, request: PayInstallmentsRequest) -> None:
        self.request = request
        self.result: EarlyPaymentResult | None = None
        self.error: ApplicationError | None = None


@workflow.defn
class InstallmentPlanWorkflow:
    def __init__(self) -> None:
        self._steps: InstallmentSteps | None = None
        self._admitted = False
        self._payments: list[_Payment] = []
        self._cancel: CancelInstallmentPlanRequest | None = None
        self._changes = 0  # bumped by an update that changed the state itself
        self._recorded = 0
        self._idle = False  # waiting for a due date, a retry time or an operator
        self._done = False

    @workflow.run
    async def run(self, plan: InstallmentPlanInput) -> InstallmentPlanState:
        self._steps = steps = InstallmentSteps(plan)
        if await steps.admit():
            self._admitted = True
            await self._charge_in_order(steps)
        self._done = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return steps.state

    async def _charge_in_order(self, steps: InstallmentSteps) -> None:
        state = steps.state
        while True:
            if self._recorded < self._changes:
                await self._record()
            if self._cancel is not None:
                steps.finish(Status.CANCELED, self._cancel.reason or "canceled")
                await self._record()
                return
            if self._payments:
                await self._pay_early(self._payments.pop(0))
                continue
            current = state.first_unpaid()
            if current is None:
                steps.finish(Status.COMPLETED)
                await self._record()
                return
            if state.status == Status.DEFAULTED:
                await self._idle_until(None)
                continue
            wake = steps.wake_at(current)
            if wake > workflow.now():
                await self._idle_until(wake - workflow.now())
                continue
            await steps.charge_due(current)
            await self._record()

    async def _idle_until(self, at_most: timedelta | None) -> None:
        seen = self._changes
        self._idle = True
        await wait_within(
            lambda: bool(self._payments) or self._cancel is not None or self._changes != seen,
            at_most,
        )
        self._idle = False

    async def _pay_early(self, payment: _Payment) -> None:
        try:
            attempt = await self._steps.pay_early(payment.request)
        except ApplicationError as refused:
            payment.error = refused
            return
        await self._record()
        payment.result = EarlyPaymentResult(attempt=attempt, plan=self._steps.state)

    async def _record(self) -> None:
        changes = self._changes
        await self._steps.record()
        self._recorded = max(self._recorded, changes)

    # ------------------------------------------------------------------ handlers

    @workflow.query
    def state(self) -> InstallmentPlanState | None:
        return self._steps.state if self._steps else None

    @workflow.update
    async def wait_for_result(self) -> InstallmentPlanState:
        """The plan once admitted and settled for now (a charge due at once is done);
        raises ``Rejected`` with ``{code, message}`` when it was not admitted."""
        await workflow.wait_condition(lambda: self._idle or self._done)
        if self._steps.rejection is not None:
            rejection = self._steps.rejection
            raise rejected(rejection)
        return self._steps.state

    @workflow.update
    async def pay(self, request: PayInstallmentsRequest) -> EarlyPaymentResult:
        payment = _Payment(request)
        self._payments.append(payment)
        await workflow.wait_condition(lambda: payment.result or payment.error or self._done)
        if payment.error is not None:
            raise payment.error
        if payment.result is None:
            raise invalid("the plan ended before the payment was made")
        return payment.result

    @pay.validator
    def _validate_pay(self, request: PayInstallmentsRequest) -> None:
        self._require_running()
        self._steps.check_payment(request)

    @workflow.update
    async def resolve(self, request: ResolveRequest) -> InstallmentPlanState:
        """An operator's decision on a defaulted plan: charge again now (optionally with a
        new payment method), waive the failed installment, or cancel the plan."""
        if request.action == "cancel":
            return await self.cancel(CancelInstallmentPlanRequest(reason="canceled by operator"))
        if request.action == "waive":
            self._steps.waive()
            self._changes += 1
            change = self._changes
            await workflow.wait_condition(lambda: self._recorded >= change or self._done)
            return self._steps.state
        installment = self._steps.retry_now(request.payment_method)
        tried = len(installment.attempts)
        self._changes += 1
        # Answer with that attempt's outcome, recorded: the loop idles only after recording.
        await workflow.wait_condition(
            lambda: (
                self._done
                or ((len(installment.attempts) > tried or installment.done) and self._idle)
            )
        )
        return self._steps.state

    @resolve.validator
    def _validate_resolve(self, request: ResolveRequest) -> None:
        self._require_running()
        if self._steps.state.status != Status.DEFAULTED:
            raise invalid(f"the plan is {self._steps.state.status.value}; resolve needs defaulted")

    @workflow.update
    async def retry_on_session(self) -> OnSessionRetryResult:
        """The customer is here to finish what an off-session charge of their saved method
        could not (3-D Secure): the failed installment is charged again at once, on-session;
        answered as soon as that payment runs, with its id for the customer to act on."""
        steps = self._steps
        steps.retry_on_session()
        self._changes += 1
        await workflow.wait_condition(
            lambda: (
                steps.on_session_payment_id is not None
                or not steps.on_session_requested
                or self._done
            )
        )
        if steps.on_session_payment_id is None:
            raise invalid("the installment was settled before it was charged on-session")
        return OnSessionRetryResult(payment_id=steps.on_session_payment_id, plan=steps.state)

    @retry_on_session.validator
    def _validate_retry_on_session(self) -> None:
        self._require_running()
        if not self._idle or self._steps.on_session_requested:
            raise invalid("a charge of this plan is in progress; retry after it")
        self._steps.check_on_session()

    @workflow.update
    async def cancel(self, request: CancelInstallmentPlanRequest) -> InstallmentPlanState:
        """Stops every future charge. Paid installments are not refunded (their payments
        are in the state: refund them through their own refunds)."""
        self._cancel = self._cancel or request
        await workflow.wait_condition(lambda: self._done)
        return self._steps.state

    @cancel.validator
    def _validate_cancel(self, request: CancelInstallmentPlanRequest) -> None:
        self._require_running()
        if self._cancel is not None:
            raise invalid("the plan is being canceled")

    def _require_running(self) -> None:
        if not self._admitted or self._done or self._steps.state.status.is_final:
            status = self._steps.state.status.value if self._steps else "starting"
            raise invalid(f"the plan is {status}")
