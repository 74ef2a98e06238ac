"""Collecting one period: the charge, then dunning (retries at first failure + each delay),
and charges whose outcome is unknown, which are looked up and never charged again."""

from datetime import datetime
from datetime import timedelta
from typing import TYPE_CHECKING
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.billing import CHARGED
    from schemas.billing import NOT_CHARGED
    from schemas.billing import UNSETTLED_RECHECK
    from schemas.billing import ChargeAttempt
    from schemas.identity import billing_payment_id
    from schemas.subscriptions import BillingPeriod

from workflows.billing.charge import charge
from workflows.billing.charge import settled_outcome

if TYPE_CHECKING:
    from workflows.subscription.workflow import SubscriptionWorkflow

Outcome = Literal["paid", "exhausted", "canceled"]
Wake = Literal["scheduled", "requested", "canceled"]


class Collector:
    def __init__(self, flow: "SubscriptionWorkflow") -> None:
        self._flow = flow

    async def collect(self, period: BillingPeriod, delays: list[timedelta]) -> Outcome:
        """Charge ``period`` until it is paid, the retries in ``delays`` are used up, or the
        subscription is canceled."""
        book = self._flow.book
        if period.amount == 0:
            book.paid(period)
            return "paid"
        used = 0  # retry times (delays) that have come
        at_once = False
        while True:
            attempt = await self._attempt(period)
            status, at_once = await self._settle(attempt, period, delays, used, at_once)
            if status == "canceled":
                return "canceled"
            if status in CHARGED:
                book.paid(period)
                return "paid"
            if used >= len(delays):
                return "exhausted"
            retry_at = period.first_failed_at + delays[used]
            book.past_due(period, retry_at, period.first_failed_at + delays[-1])
            period.status = "past_due"
            wake = "requested" if at_once else await self.wait(retry_at)
            if wake == "canceled":
                return "canceled"
            used += wake == "scheduled"
            at_once = False

    async def _settle(
        self,
        attempt: ChargeAttempt,
        period: BillingPeriod,
        delays: list[timedelta],
        used: int,
        at_once: bool,
    ) -> tuple[str, bool]:
        """The attempt's final status. An unknown outcome (the provider may have charged) is
        looked up at the next retry time, then hourly, and never charged again meanwhile."""
        if period.first_failed_at is None and not attempt.succeeded:
            period.first_failed_at = attempt.at
        check_at = self._retry_time(period, delays, used)
        while attempt.outcome_unknown:
            period.status = "requires_attention"
            self._flow.book.past_due(period, check_at, self._grace_end(period, delays))
            wake = await self.wait(check_at)
            if wake == "canceled":
                return "canceled", False
            outcome = await settled_outcome(attempt.payment_id)
            self._flow.retry_answered()
            if outcome in CHARGED or outcome in NOT_CHARGED:
                attempt.status = outcome
                # A customer's new card (requested) is tried at once; a settled failure at
                # its retry time is that retry.
                return outcome, wake == "requested"
            check_at = workflow.now() + UNSETTLED_RECHECK
        return attempt.status, at_once

    def _retry_time(self, period: BillingPeriod, delays: list[timedelta], used: int) -> datetime:
        if used < len(delays) and period.first_failed_at is not None:
            return period.first_failed_at + delays[used]
        return workflow.now() + UNSETTLED_RECHECK

    @staticmethod
    def _grace_end(period: BillingPeriod, delays: list[timedelta]) -> datetime | None:
        if not delays or period.first_failed_at is None:
            return None
        return period.first_failed_at + delays[-1]

    async def _attempt(self, period: BillingPeriod) -> ChargeAttempt:
        flow = self._flow
        state = flow.book.state
        on_session = flow.take_on_session()
        if on_session:
            # The customer acts on this attempt's payment while it runs.
            period.payment_id = billing_payment_id(
                state.subscription_id, period.index, len(period.attempts) + 1
            )
        await flow.book.publish()
        attempt = await charge(
            tenant_id=state.tenant_id,
            owner_id=state.subscription_id,
            period=period.index,
            attempt=len(period.attempts) + 1,
            amount=period.amount,
            currency=state.plan.currency,
            customer_id=state.customer_id,
            payment_method=flow.payment_method,
            policy=flow.charge_policy,
            saved=flow.saved_method,
            on_session=on_session,
            description=f"Subscription {state.subscription_id} period {period.index}",
        )
        period.attempts.append(attempt)
        period.payment_id = attempt.payment_id
        flow.retry_answered()
        flow.book.touch()
        return attempt

    async def wait(self, until: datetime | None) -> Wake:
        """Until the retry time, a new payment method (retry at once), or a cancel."""
        flow = self._flow
        while True:
            if flow.cancel_requested:
                return "canceled"
            if flow.take_retry_request():
                return "requested"
            if until is not None and workflow.now() >= until:
                return "scheduled"
            await flow.sleep(until)
