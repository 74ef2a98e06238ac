"""SubscriptionWorkflow: charge each period at its start, dun failed charges, and take
the client's pause, resume, cancel, payment-method and plan changes as updates.

Boundaries never move (period k starts at anchor + k * interval); a period whose start
passed while the subscription was past due is charged as soon as its turn comes, one
passed while paused is recorded ``skipped``.
"""

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.billing import ChargePolicy
    from schemas.customers import OffSessionMethod
    from schemas.money import MAX_AMOUNT_MINOR
    from schemas.subscriptions import CancelSubscriptionRequest
    from schemas.subscriptions import ChangePlan
    from schemas.subscriptions import PauseRequest
    from schemas.subscriptions import SubscriptionInput
    from schemas.subscriptions import SubscriptionState
    from schemas.subscriptions import SubscriptionStatus
    from schemas.subscriptions import UpdatePaymentMethodRequest
    from workflows.kit.failures import rejected
    from workflows.kit.waits import wait_within
    from workflows.subscription.steps import SubscriptionBook
    from workflows.subscription.steps import initial_state

from workflows.subscription.dunning import Collector

Status = SubscriptionStatus


@workflow.defn
class SubscriptionWorkflow:
    def __init__(self) -> None:
        self.book: SubscriptionBook | None = None
        self.payment_method = ""
        # The customer's saved method, charged off-session; a new token replaces it.
        self.saved_method: OffSessionMethod | None = None
        self.on_session = False  # the next attempt waits for the customer's action
        self.cancel_requested = False
        self._input: SubscriptionInput | None = None
        self.charge_policy: ChargePolicy | None = None
        self._changes = 0  # bumped by every update, so sleeps wake up and look again
        self._retry_requests = self._retry_taken = self._retry_answered = 0
        self._collecting = False

    @workflow.run
    async def run(self, sub: SubscriptionInput) -> SubscriptionState:
        self._input, self.payment_method = sub, sub.payment_method
        self.saved_method = sub.saved_method
        self.charge_policy = sub.charge_policy
        state = sub.state or initial_state(sub)
        if sub.state is not None:
            state.runs += 1
        self.book = SubscriptionBook(state)
        await self.book.publish()
        await self._bill(Collector(self))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.book.state

    async def _bill(self, collector: Collector) -> None:
        book, state = self.book, self.book.state
        while True:
            k = state.next_period
            if not await self._reach(book.period_start(k)) or state.cancel_at_period_end:
                return await self._cancel()
            if state.status == Status.PAUSED:
                book.skip(k)
                await book.publish()
                continue
            self._collecting = True
            period = book.open_period(k)
            outcome = await collector.collect(period, self._input.dunning.retry_delays)
            while outcome == "exhausted":
                if state.on_dunning_exhausted == "cancel":
                    book.exhausted(period, Status.CANCELED)
                    return await self._cancel(period)
                book.exhausted(period, Status.UNPAID)
                # Only a new payment method (tried at once, without further retries) or a
                # cancel gets an unpaid subscription going again.
                if await collector.wait(None) == "canceled":
                    return await self._cancel(period)
                outcome = await collector.collect(period, [])
            self._collecting = False
            # A new card sent while the last attempt went through needs no retry any more.
            self._retry_taken = self._retry_answered = self._retry_requests
            if outcome == "canceled":
                return await self._cancel(period)
            await book.publish()
            await self._maybe_continue_as_new()

    async def _reach(self, start: datetime) -> bool:
        """Sleep until ``start``, resuming a pause at its ``resume_at``; False if canceled."""
        state = self.book.state
        while not self.cancel_requested:
            now = workflow.now()
            if state.status == Status.PAUSED and state.resume_at and now >= state.resume_at:
                self.book.resume()
                continue
            if now >= start:
                return True
            wake = start
            if state.status == Status.PAUSED and state.resume_at:
                wake = min(wake, state.resume_at)
            await self.sleep(wake)
        return False

    async def sleep(self, until: datetime | None) -> None:
        """Until ``until`` or an update's change; state changes are published first."""
        if self.book.dirty:
            await self.book.publish()
        seen = self._changes
        await wait_within(
            lambda: self._changes != seen, None if until is None else until - workflow.now()
        )
        if self.book.dirty:
            await self.book.publish()

    async def _cancel(self, period=None) -> None:
        self._collecting = False
        self.book.cancel(period)
        await self.book.publish()

    async def _maybe_continue_as_new(self) -> None:
        info = workflow.info()
        limit = self._input.history_limit
        if self.cancel_requested:
            return  # the cancel's update waits for the canceled state, in this run
        if info.is_continue_as_new_suggested() or (
            limit is not None and info.get_current_history_length() >= limit
        ):
            await workflow.wait_condition(workflow.all_handlers_finished)
            state = self.book.state.model_copy(deep=True)
            carried = self._input.model_copy(
                update={
                    "state": state,
                    "payment_method": self.payment_method,
                    "saved_method": self.saved_method,
                }
            )
            workflow.continue_as_new(carried)

    # ------------------------------------------------------------------ dunning hooks

    def take_retry_request(self) -> bool:
        if self._retry_requests == self._retry_taken:
            return False
        self._retry_taken = self._retry_requests
        return True

    def retry_answered(self) -> None:
        self._retry_answered = self._retry_taken

    def _changed(self) -> None:
        self._changes += 1

    # ------------------------------------------------------------------ query, updates

    @workflow.query
    def state(self) -> SubscriptionState:
        return self.book.state if self.book else None

    @workflow.update
    async def pause(self, request: PauseRequest) -> SubscriptionState:
        self.book.pause(request.resume_at)
        self._changed()
        return self.book.state

    @pause.validator
    def _validate_pause(self, request: PauseRequest) -> None:
        self._require(Status.ACTIVE, Status.TRIALING)
        if self._collecting:
            _reject("invalid_state", "a charge is in progress; pause after it")
        if request.resume_at is not None and request.resume_at <= workflow.now():
            _reject("invalid_resume_at", "resume_at must be in the future")

    @workflow.update
    async def resume(self) -> SubscriptionState:
        self.book.resume()
        self._changed()
        return self.book.state

    @resume.validator
    def _validate_resume(self) -> None:
        self._require(Status.PAUSED)

    @workflow.update
    async def cancel(self, request: CancelSubscriptionRequest) -> SubscriptionState:
        if request.at_period_end:
            self.book.state.cancel_at_period_end = True
            self.book.touch()
            self._changed()
            return self.book.state
        self.cancel_requested = True
        self._changed()
        await workflow.wait_condition(lambda: self.book.state.status == Status.CANCELED)
        return self.book.state

    @cancel.validator
    def _validate_cancel(self, request: CancelSubscriptionRequest) -> None:
        if self.cancel_requested:
            _reject("invalid_state", "the subscription is being canceled")
        if request.at_period_end:
            self._require(Status.ACTIVE, Status.TRIALING, Status.PAUSED)
        else:
            self._require(*(s for s in Status if s != Status.CANCELED))

    @workflow.update
    async def retry_on_session(self) -> SubscriptionState:
        """The customer is here to finish what an off-session charge could not (3-D Secure):
        the period is charged again at once, on-session, and its payment waits for the
        customer's action; answered at once, with the period's payment id to act on."""
        self.on_session = True
        self._retry_requests += 1
        self._changed()
        ticket = self._retry_requests
        await workflow.wait_condition(lambda: self._retry_taken >= ticket)
        return self.book.state

    @retry_on_session.validator
    def _validate_retry_on_session(self) -> None:
        self._require(Status.PAST_DUE, Status.UNPAID)
        if self.saved_method is None:
            _reject("invalid_state", "only a customer's saved method is charged on-session")

    def take_on_session(self) -> bool:
        on_session, self.on_session = self.on_session, False
        return on_session

    @workflow.update
    async def update_payment_method(self, request: UpdatePaymentMethodRequest) -> SubscriptionState:
        self.payment_method = request.payment_method
        self.saved_method = None
        if self.book.state.status in (Status.PAST_DUE, Status.UNPAID):
            self._retry_requests += 1
            ticket = self._retry_requests
            self._changed()
            dunning = (Status.PAST_DUE, Status.UNPAID)
            await workflow.wait_condition(
                lambda: self._retry_answered >= ticket or self.book.state.status not in dunning
            )
        return self.book.state

    @update_payment_method.validator
    def _validate_payment_method(self, request: UpdatePaymentMethodRequest) -> None:
        self._require(*(s for s in Status if s != Status.CANCELED))

    @workflow.update
    async def change_plan(self, request: ChangePlan) -> SubscriptionState:
        self.book.change_plan(request.plan)
        self._changed()
        return self.book.state

    @change_plan.validator
    def _validate_change_plan(self, request: ChangePlan) -> None:
        current, new = self.book.state.plan, request.plan
        self._require(Status.ACTIVE, Status.TRIALING, Status.PAUSED, Status.PAST_DUE)
        if new.plan_id == current.plan_id:
            _reject("plan_unchanged", "the subscription is on this plan already")
        if new.currency != current.currency:
            _reject("plan_change_not_supported", "a plan in another currency")
        if (new.interval, new.interval_count) != (current.interval, current.interval_count):
            _reject("plan_change_not_supported", "a plan with another billing interval")
        # Refused here, not met at the next period: a charge above the maximum would fail
        # that period's workflow task on every retry.
        if self.book.next_charge_after_change(new) > MAX_AMOUNT_MINOR:
            _reject(
                "plan_change_not_supported",
                f"the next charge with its proration would exceed {MAX_AMOUNT_MINOR} minor units",
            )

    def _require(self, *allowed: SubscriptionStatus) -> None:
        if self.book is None or self.book.state.status not in allowed or self.cancel_requested:
            status = self.book.state.status.value if self.book else "starting"
            _reject(
                "invalid_state",
                f"subscription is {status}; allowed in: {', '.join(s.value for s in allowed)}",
            )


def _reject(code: str, message: str) -> None:
    raise rejected({"code": code, "message": message})
