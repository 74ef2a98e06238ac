"""PaymentWorkflow: fraud check → authorize → (3-D Secure) → (review) → capture → ledger,
as a saga."""

from temporalio import workflow
from temporalio.exceptions import ApplicationError

# Everything but this module is passed through: imported once, not re-executed in the
# sandbox for every workflow run (DESIGN §5). Those modules hold no mutable state.
with workflow.unsafe.imports_passed_through():
    from schemas import errors
    from schemas.payments import CancelRequest
    from schemas.payments import CaptureRequest
    from schemas.payments import DisputeRecord
    from schemas.payments import PaymentInput
    from schemas.payments import PaymentState
    from schemas.payments import PaymentStatus
    from schemas.provider_events import ProviderEvent
    from schemas.risk_review import ReviewDecision
    from workflows.kit import metrics
    from workflows.kit import search_attributes as sa
    from workflows.kit.outcomes import StepFailed
    from workflows.kit.saga import Saga
    from workflows.kit.waits import wait_within
    from workflows.payment.activities import refund_payment
    from workflows.payment.activities import void_authorization
    from workflows.payment.review import PaymentReview
    from workflows.payment.steps import PaymentSteps


# Events after which the provider may have finished the customer's action (3-D Secure done,
# PayPal order approved): the saga asks the provider again.
PROVIDER_ACTION_HINTS = frozenset(
    {"action_completed", "payment_authorized", "payment_captured", "payment_failed"}
)


@workflow.defn
class PaymentWorkflow:
    def __init__(self) -> None:
        self._state: PaymentState | None = None
        self._confirmations = 0
        self._capture: CaptureRequest | None = None
        self._cancel: CancelRequest | None = None
        self._review = PaymentReview()

    @workflow.run
    async def run(self, payment: PaymentInput) -> PaymentState:
        now = workflow.now()
        self._state = PaymentState(
            payment_id=payment.payment_id,
            tenant_id=payment.tenant_id,
            amount=payment.amount,
            currency=payment.currency,
            customer_id=payment.customer_id,
            provider=payment.provider,
            capture_method=payment.capture_method,
            description=payment.description,
            metadata=payment.metadata,
            trace_id=payment.trace_id,
            card_fingerprint=payment.risk_signals.card_fingerprint,
            created_at=now,
            updated_at=now,
        )
        # The API files the payment at start (one visibility write fewer per payment, and a
        # payment is findable before a worker picks it up); other starters leave it to us.
        # The branch depends only on the start event, so a replay always takes the same one.
        if workflow.info().typed_search_attributes.get(sa.PAYMENT_STATUS) is None:
            workflow.upsert_search_attributes(sa.initial_updates(payment))
        steps = PaymentSteps(payment, self._state)
        saga = Saga(steps.log)
        try:
            await self._process(payment, steps, saga)
        except StepFailed as failure:
            compensated = await saga.unwind()
            steps.finish(
                failure.status if compensated else PaymentStatus.REQUIRES_ATTENTION,
                failure.code,
                failure.message,
            )
        await steps.record_final()
        metrics.payment_finished(self._state.status.value, self._state.provider)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _process(self, payment: PaymentInput, steps: PaymentSteps, saga: Saga) -> None:
        action = await steps.screen()
        if action is None:
            return
        saga.register(void_authorization, steps.void)
        charge = await steps.authorize()
        if charge is None:
            return
        if charge.status == "requires_action":
            charge = await self._await_customer_action(payment, steps)
            if charge is None:
                return
        if action == "review":
            # Authorized without capture: an operator decides before any money moves.
            await self._review.hold(payment, steps, lambda: self._cancel)
        if charge.status != "captured":
            await steps.capture(await self._await_capture_decision(payment, steps))
        # Captured: the charge cannot be voided any more, only refunded.
        saga.discard(void_authorization)
        saga.register(refund_payment, steps.refund)
        await steps.post_to_ledger()

    async def _await_customer_action(self, payment: PaymentInput, steps: PaymentSteps):
        await steps.pause(PaymentStatus.REQUIRES_ACTION)
        deadline = workflow.now() + payment.action_timeout
        handled = 0
        while True:
            remaining = deadline - workflow.now()
            if not await wait_within(
                lambda seen=handled: self._confirmations > seen or self._cancel, remaining
            ):
                raise StepFailed(
                    PaymentStatus.EXPIRED, "action_expired", "3-D Secure not completed"
                )
            if self._cancel:
                raise StepFailed(PaymentStatus.CANCELED, "canceled", self._cancel.reason)
            handled = self._confirmations
            charge = await steps.confirm_action(attempt=handled)
            if charge is None or charge.status != "requires_action":
                return charge

    async def _await_capture_decision(self, payment: PaymentInput, steps: PaymentSteps) -> int:
        """The amount to capture; raises when the hold expires or the payment is canceled."""
        if payment.capture_method == "automatic":
            # The provider authorized but could not capture in the same call.
            return self._state.authorized_amount
        await steps.pause(PaymentStatus.REQUIRES_CAPTURE)
        decided = await wait_within(
            lambda: self._capture or self._cancel, payment.authorization_hold
        )
        if not decided:
            raise StepFailed(PaymentStatus.EXPIRED, "authorization_expired", "hold expired")
        if self._cancel:
            raise StepFailed(PaymentStatus.CANCELED, "canceled", self._cancel.reason)
        return self._capture.amount or self._state.authorized_amount

    @workflow.query
    def state(self) -> PaymentState:
        return self._state

    @workflow.signal
    def confirm(self) -> None:
        self._confirmations += 1

    @workflow.signal
    def provider_event(self, event: ProviderEvent) -> None:
        """A verified webhook: only a hint, since the saga asks the provider before acting,
        so a late, repeated or out-of-order event changes nothing twice."""
        if event.kind in PROVIDER_ACTION_HINTS:
            self._confirmations += 1
        elif event.kind == "dispute_opened" and self._state is not None:
            self._state.dispute = DisputeRecord(
                provider_event_id=event.event_id,
                reason=event.detail,
                amount=event.amount,
                currency=event.currency,
                opened_at=event.occurred_at or workflow.now(),
            )

    @workflow.update
    async def wait_for_milestone(self) -> PaymentState:
        """Returns once the payment is authorized, paused for the client, or finished."""
        await workflow.wait_condition(
            lambda: self._state is not None and self._state.status != PaymentStatus.PROCESSING
        )
        return self._state

    @workflow.update
    async def capture(self, request: CaptureRequest) -> PaymentState:
        self._capture = request
        return await self._final_state()

    @capture.validator
    def _validate_capture(self, request: CaptureRequest) -> None:
        self._require_status(PaymentStatus.REQUIRES_CAPTURE)
        if request.amount is not None and request.amount > self._state.authorized_amount:
            raise ApplicationError(
                f"capture amount {request.amount} exceeds the authorized "
                f"{self._state.authorized_amount}",
                type=errors.AMOUNT_EXCEEDS_AUTHORIZED,
            )

    @workflow.update
    async def cancel(self, request: CancelRequest) -> PaymentState:
        self._cancel = request
        return await self._final_state()

    @cancel.validator
    def _validate_cancel(self, request: CancelRequest) -> None:
        self._require_status(
            PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.REQUIRES_ACTION, PaymentStatus.IN_REVIEW
        )

    @workflow.update
    async def review(self, decision: ReviewDecision) -> PaymentState:
        """An operator's approve or reject of a payment in review; answers at the payment's
        next milestone (succeeded, requires_capture, or declined once voided)."""
        self._review.decision = decision
        await workflow.wait_condition(
            lambda: self._state.status not in (PaymentStatus.IN_REVIEW, PaymentStatus.PROCESSING)
        )
        return self._state

    @review.validator
    def _validate_review(self, decision: ReviewDecision) -> None:
        self._require_status(PaymentStatus.IN_REVIEW)

    async def _final_state(self) -> PaymentState:
        await workflow.wait_condition(lambda: self._state.status.is_final)
        return self._state

    def _require_status(self, *allowed: PaymentStatus) -> None:
        pending = self._capture is not None or self._cancel is not None
        if self._state is not None and self._state.status == PaymentStatus.IN_REVIEW:
            # Decided (by an operator or the deadline): the saga is capturing or voiding.
            review = self._state.review
            pending |= self._review.decision is not None or bool(review and review.decision)
        if self._state is None or self._state.status not in allowed or pending:
            status = self._state.status.value if self._state else "processing"
            raise ApplicationError(
                f"payment is {status}{' with an action pending' if pending else ''}; "
                f"allowed in: {', '.join(s.value for s in allowed)}",
                type=errors.INVALID_PAYMENT_STATE,
            )
