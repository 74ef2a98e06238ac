"""The subscription's book: its state, what each change does to it, and publishing it
(search attributes and the read model). Deterministic: no I/O but the local activity."""

from datetime import datetime
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributePair

with workflow.unsafe.imports_passed_through():
    from schemas.domain.billing_periods import boundary
    from schemas.domain.billing_periods import period_bounds
    from schemas.domain.billing_periods import proration
    from schemas.subscriptions import KEPT_PERIODS
    from schemas.subscriptions import BillingPeriod
    from schemas.subscriptions import Line
    from schemas.subscriptions import Plan
    from schemas.subscriptions import SubscriptionInput
    from schemas.subscriptions import SubscriptionState
    from schemas.subscriptions import SubscriptionStatus
    from workflows.kit import policies
    from workflows.kit import search_attributes as sa
    from workflows.subscription.activities import record_subscription

Status = SubscriptionStatus
# A pause far in the future would otherwise make next_charge_at loop for long.
MAX_PERIODS_AHEAD = 10_000


def initial_state(sub: SubscriptionInput) -> SubscriptionState:
    """The state before anything happened; the API answers with it (same function)."""
    trial_end = sub.start_at + timedelta(days=sub.trial_days) if sub.trial_days else None
    state = SubscriptionState(
        subscription_id=sub.subscription_id,
        tenant_id=sub.tenant_id,
        customer_id=sub.customer_id,
        plan=sub.plan,
        status=Status.TRIALING if trial_end else Status.ACTIVE,
        start_at=sub.start_at,
        trial_end=trial_end,
        anchor=trial_end or sub.start_at,
        on_dunning_exhausted=sub.on_dunning_exhausted,
        created_at=sub.created_at,
        updated_at=sub.created_at,
    )
    state.next_charge_at = next_charge_at(state)
    return state


def bounds(state: SubscriptionState, k: int) -> tuple[datetime, datetime]:
    plan = state.plan
    return period_bounds(state.anchor, plan.interval, plan.interval_count, k)


def next_charge_at(state: SubscriptionState) -> datetime | None:
    if state.status in (Status.CANCELED, Status.UNPAID) or state.cancel_at_period_end:
        return None
    if state.status == Status.PAST_DUE:
        return state.next_retry_at
    k = state.next_period
    if state.status == Status.PAUSED:
        if state.resume_at is None:
            return None
        plan = state.plan
        while boundary(state.anchor, plan.interval, plan.interval_count, k) < state.resume_at:
            k += 1
            if k > state.next_period + MAX_PERIODS_AHEAD:
                return None
    return bounds(state, k)[0]


def attributes(state: SubscriptionState) -> list[SearchAttributePair]:
    """What operators find a subscription by; the API sets them at start."""
    pairs = [
        SearchAttributePair(sa.TENANT_ID, state.tenant_id),
        SearchAttributePair(sa.CUSTOMER_ID, state.customer_id),
        SearchAttributePair(sa.PLAN_ID, state.plan.plan_id),
        SearchAttributePair(sa.CURRENCY, state.plan.currency),
        SearchAttributePair(sa.AMOUNT_MINOR, state.plan.amount),
        SearchAttributePair(sa.SUBSCRIPTION_STATUS, state.status.value),
    ]
    if state.next_charge_at is not None:
        pairs.append(SearchAttributePair(sa.NEXT_CHARGE_AT, state.next_charge_at))
    return pairs


class SubscriptionBook:
    def __init__(self, state: SubscriptionState) -> None:
        self.state = state
        self.dirty = False
        filed = workflow.info().typed_search_attributes
        self._filed = {pair.key.name: pair.value for pair in filed}

    def period_start(self, k: int) -> datetime:
        return bounds(self.state, k)[0]

    def touch(self) -> None:
        self.state.updated_at = workflow.now()
        self.state.next_charge_at = next_charge_at(self.state)
        self.dirty = True

    async def publish(self) -> None:
        """Search attributes that changed, and the read model (every state change)."""
        self.touch()
        self.dirty = False
        wanted = {pair.key.name: (pair.key, pair.value) for pair in attributes(self.state)}
        updates = [
            key.value_set(value)
            for name, (key, value) in wanted.items()
            if self._filed.get(name) != value
        ]
        if sa.NEXT_CHARGE_AT.name not in wanted and self._filed.get(sa.NEXT_CHARGE_AT.name):
            updates.append(sa.NEXT_CHARGE_AT.value_unset())
        if updates:
            workflow.upsert_search_attributes(updates)
            self._filed = {name: value for name, (_, value) in wanted.items()}
        await workflow.execute_local_activity(
            record_subscription, self.state, **policies.RECORD_CALL
        )

    # -------------------------------------------------------------- periods

    def open_period(self, k: int) -> BillingPeriod:
        """Period ``k`` as charged at its start: the plan, pending proration lines, credit."""
        state, plan = self.state, self.state.plan
        start, end = bounds(state, k)
        lines = [Line(kind="plan", description=plan.name, amount=plan.amount)]
        lines += state.pending_lines
        state.pending_lines = []
        gross = sum(line.amount for line in lines)
        if gross < 0:
            lines.append(
                Line(kind="credit_carried_forward", description="Credit left over", amount=-gross)
            )
        due = max(gross, 0)
        available = state.credit_balance + max(-gross, 0)
        applied = min(available, due)
        if applied:
            lines.append(Line(kind="credit_applied", description="Credit balance", amount=-applied))
        state.credit_balance = available - applied
        period = BillingPeriod(
            index=k, start=start, end=end, status="charging", amount=due - applied, lines=lines
        )
        if state.status == Status.TRIALING:
            state.status = Status.ACTIVE
        self._append(period)
        self.touch()
        return period

    def skip(self, k: int) -> None:
        start, end = bounds(self.state, k)
        self._append(BillingPeriod(index=k, start=start, end=end, status="skipped"))
        self.state.next_period = k + 1
        self.touch()

    def paid(self, period: BillingPeriod) -> None:
        period.status = "paid"
        state = self.state
        if state.status in (Status.PAST_DUE, Status.UNPAID):
            state.status = Status.ACTIVE
        state.next_retry_at = state.grace_ends_at = None
        state.next_period = period.index + 1
        self.touch()

    def past_due(self, period: BillingPeriod, retry_at: datetime, grace_end: datetime) -> None:
        state = self.state
        state.status = Status.PAST_DUE
        state.next_retry_at, state.grace_ends_at = retry_at, grace_end
        self.touch()

    def exhausted(self, period: BillingPeriod, then: Status) -> None:
        period.status = "failed"
        self.state.status = then
        self.state.next_retry_at = self.state.grace_ends_at = None
        self.touch()

    def cancel(self, period: BillingPeriod | None = None) -> None:
        if period is not None and period.status not in ("paid", "failed"):
            period.status = "canceled"
        state = self.state
        state.status = Status.CANCELED
        state.canceled_at = workflow.now()
        state.next_retry_at = state.grace_ends_at = None
        self.touch()

    def _append(self, period: BillingPeriod) -> None:
        self.state.periods.append(period)
        if len(self.state.periods) > KEPT_PERIODS:
            self.state.periods.pop(0)
            self.state.earlier_periods += 1

    # -------------------------------------------------------------- client actions

    def pause(self, resume_at: datetime | None) -> None:
        self.state.status = Status.PAUSED
        self.state.paused_at, self.state.resume_at = workflow.now(), resume_at
        self.touch()

    def resume(self) -> None:
        state = self.state
        in_trial = state.trial_end is not None and workflow.now() < state.trial_end
        state.status = Status.TRIALING if in_trial else Status.ACTIVE
        state.paused_at = state.resume_at = None
        self.touch()

    def proration_lines(self, plan: Plan) -> list[Line]:
        """What moving to ``plan`` now adds to the next period's charge: when the current
        period was paid, a credit for the unused part of the old plan and a charge for it
        on the new one."""
        state, old, now = self.state, self.state.plan, workflow.now()
        current = state.periods[-1] if state.periods else None
        if current is not None and current.status == "paid" and current.start <= now < current.end:
            credit, charge = proration(old.amount, plan.amount, current.start, current.end, now)
            if credit or charge:
                return [
                    Line(kind="proration_credit", description=f"Unused {old.name}", amount=-credit),
                    Line(
                        kind="proration_charge", description=f"Rest on {plan.name}", amount=charge
                    ),
                ]
        return []

    def next_charge_after_change(self, plan: Plan) -> int:
        """The next period's charge (before any credit balance) if the plan changed now."""
        lines = [*self.state.pending_lines, *self.proration_lines(plan)]
        return plan.amount + sum(line.amount for line in lines)

    def change_plan(self, plan: Plan) -> None:
        self.state.pending_lines += self.proration_lines(plan)
        self.state.plan = plan
        self.touch()
