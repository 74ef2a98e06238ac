"""SubscriptionWorkflow on the time-skipping server, with the real payment saga, sandbox
gateway and SQLite: years of billing in seconds."""

import asyncio
import contextlib
import json
import uuid
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from fractions import Fraction

import pytest
from sqlmodel import Session
from sqlmodel import select
from temporalio.client import WorkflowHandle
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from schemas.billing import DunningPolicy
from schemas.domain.billing_periods import boundary
from schemas.identity import billing_payment_id
from schemas.identity import new_plan_id
from schemas.identity import new_subscription_id
from schemas.store.tables import PaymentRecord
from schemas.store.tables import SubscriptionRecord
from schemas.subscriptions import CancelSubscriptionRequest
from schemas.subscriptions import ChangePlan
from schemas.subscriptions import PauseRequest
from schemas.subscriptions import Plan
from schemas.subscriptions import SubscriptionInput
from schemas.subscriptions import SubscriptionState
from schemas.subscriptions import UpdatePaymentMethodRequest
from tests.support.sagas import start_subscription
from tests.support.worker import running_worker
from workflows.subscription.workflow import SubscriptionWorkflow

TENANT = "ten_subs"


STARTED: list[WorkflowHandle] = []


@pytest.fixture
async def client(time_env, settings, engine):
    async with running_worker(time_env.client, settings, engine):
        yield time_env.client
    # A subscription left running would hold the shared test server's clock for ever: its
    # next timer fires a task that no worker (of this test's queue) will ever take.
    while STARTED:
        handle = STARTED.pop()
        with contextlib.suppress(RPCError):
            await handle.terminate("test over")


def plan(amount: int = 1000, **overrides) -> Plan:
    fields = {
        "plan_id": new_plan_id(),
        "name": f"Plan {amount}",
        "amount": amount,
        "currency": "USD",
        "interval": "month",
        "created_at": datetime(2024, 1, 1, tzinfo=UTC),
    }
    return Plan(**(fields | overrides))


async def start(client, env, settings, **overrides) -> WorkflowHandle:
    now = await env.get_current_time()
    fields = {
        "subscription_id": new_subscription_id(),
        "tenant_id": TENANT,
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "plan": plan(),
        "payment_method": "tok_visa",
        "start_at": now,
        "created_at": now,
        "dunning": DunningPolicy.from_days(settings.dunning_retry_days),
    }
    sub = SubscriptionInput(**(fields | overrides))
    handle = await start_subscription(client, settings, sub)
    STARTED.append(handle)
    return handle


async def state_of(handle: WorkflowHandle) -> SubscriptionState:
    return await handle.query(SubscriptionWorkflow.state)


async def settled(handle: WorkflowHandle, check, seconds: float = 60) -> SubscriptionState:
    """The state once ``check(state)`` holds (the worker catches up after a time skip)."""
    async with asyncio.timeout(seconds):
        while True:
            state = await state_of(handle)
            if state is not None and check(state):
                return state
            await asyncio.sleep(0.05)


async def advance(env, handle, days: float, check) -> SubscriptionState:
    await env.sleep(timedelta(days=days))
    return await settled(handle, check)


def billing_payments(engine, subscription_id: str) -> dict[str, list[str]]:
    """Statuses of the payments of each billing key ``{sub}:{period}``, from the read model."""
    with Session(engine) as session:
        rows = session.exec(select(PaymentRecord.state_json)).all()
    found: dict[str, list[str]] = {}
    for row in rows:
        payment = json.loads(row)
        key = payment["metadata"].get("billing_key", "")
        if key.startswith(f"{subscription_id}:"):
            found.setdefault(key, []).append(payment["status"])
    return found


async def gateway_charges(gateway) -> Counter:
    return Counter((await gateway.get("/v1/stats")).json()["charges_by_reference"])


def by_index(state: SubscriptionState) -> dict[int, object]:
    return {period.index: period for period in state.periods}


async def test_three_years_monthly_every_period_charged_once(
    client, time_env, settings, engine, gateway
):
    handle = await start(client, time_env, settings)
    sub_id = handle.id.rsplit(":", 1)[1]
    state = await advance(time_env, handle, 3 * 365 + 10, lambda s: s.next_period == 37)

    assert state.status == "active"
    assert state.earlier_periods + len(state.periods) == 37
    assert all(p.status == "paid" and p.amount == 1000 for p in state.periods)
    assert [p.index for p in state.periods] == list(range(13, 37))
    for period in state.periods:
        assert period.start == boundary(state.anchor, "month", 1, period.index)
        assert period.end == boundary(state.anchor, "month", 1, period.index + 1)
    payments = billing_payments(engine, sub_id)
    assert payments == {f"{sub_id}:{k}": ["succeeded"] for k in range(37)}
    charges = await gateway_charges(gateway)
    assert all(charges[billing_payment_id(sub_id, k, 1)] == 1 for k in range(37))
    with Session(engine) as session:
        record = session.get(SubscriptionRecord, sub_id)
        assert (record.status, record.plan_id) == ("active", state.plan.plan_id)


async def test_trial_charges_nothing_until_it_ends(client, time_env, settings, engine):
    handle = await start(client, time_env, settings, trial_days=14)
    sub_id = handle.id.rsplit(":", 1)[1]
    state = await state_of(handle)
    assert (state.status, state.periods) == ("trialing", [])
    assert state.next_charge_at == state.trial_end == state.start_at + timedelta(days=14)

    state = await advance(time_env, handle, 13, lambda s: s.status == "trialing")
    assert billing_payments(engine, sub_id) == {}

    state = await advance(time_env, handle, 2, lambda s: s.next_period == 1)
    assert state.status == "active"
    assert state.periods[0].start == state.trial_end
    assert billing_payments(engine, sub_id) == {f"{sub_id}:0": ["succeeded"]}


async def test_pause_skips_periods_and_resume_keeps_the_boundaries(
    client, time_env, settings, engine
):
    handle = await start(client, time_env, settings)
    sub_id = handle.id.rsplit(":", 1)[1]
    await settled(handle, lambda s: s.next_period == 1)

    paused = await handle.execute_update(SubscriptionWorkflow.pause, PauseRequest())
    assert (paused.status, paused.next_charge_at) == ("paused", None)
    state = await advance(time_env, handle, 65, lambda s: s.next_period == 3)
    assert [(p.index, p.status) for p in state.periods] == [
        (0, "paid"),
        (1, "skipped"),
        (2, "skipped"),
    ]

    resumed = await handle.execute_update(SubscriptionWorkflow.resume)
    assert resumed.status == "active"
    assert resumed.next_charge_at == boundary(state.anchor, "month", 1, 3)

    # A pause with resume_at resumes by itself; the period starting meanwhile is skipped.
    now = await time_env.get_current_time()
    resume_at = boundary(state.anchor, "month", 1, 3) + timedelta(days=5)
    paused = await handle.execute_update(
        SubscriptionWorkflow.pause, PauseRequest(resume_at=resume_at)
    )
    assert paused.next_charge_at == boundary(state.anchor, "month", 1, 4)
    days = (boundary(state.anchor, "month", 1, 4) - now) / timedelta(days=1) + 1
    state = await advance(time_env, handle, days, lambda s: s.next_period == 5)
    assert [(p.index, p.status) for p in state.periods][3:] == [(3, "skipped"), (4, "paid")]
    assert state.status == "active"
    assert set(billing_payments(engine, sub_id)) == {f"{sub_id}:0", f"{sub_id}:4"}


def unused(period, now: datetime) -> Fraction:
    micro = timedelta(microseconds=1)
    return Fraction((period.end - now) // micro, (period.end - period.start) // micro)


async def test_upgrade_prorates_onto_the_next_charge(client, time_env, settings, engine):
    handle = await start(client, time_env, settings, plan=plan(1000))
    sub_id = handle.id.rsplit(":", 1)[1]
    await advance(time_env, handle, 10, lambda s: s.next_period == 1)
    bigger = plan(2999)

    changed = await handle.execute_update(SubscriptionWorkflow.change_plan, ChangePlan(plan=bigger))

    f = unused(changed.periods[0], changed.updated_at)
    assert 0 < f < 1
    credit, charge = round(1000 * f), round(2999 * f)
    assert [(line.kind, line.amount) for line in changed.pending_lines] == [
        ("proration_credit", -credit),
        ("proration_charge", charge),
    ]
    assert changed.plan.plan_id == bigger.plan_id
    state = await advance(time_env, handle, 25, lambda s: s.next_period == 2)
    period = state.periods[1]
    assert period.amount == 2999 - credit + charge == sum(line.amount for line in period.lines)
    assert (period.status, state.pending_lines) == ("paid", [])
    with Session(engine) as session:
        payment = session.get(PaymentRecord, period.payment_id)
        assert (payment.amount, payment.status) == (period.amount, "succeeded")
    assert len(billing_payments(engine, sub_id)) == 2


async def test_downgrade_credit_carries_over(client, time_env, settings, engine):
    handle = await start(client, time_env, settings, plan=plan(3000))
    sub_id = handle.id.rsplit(":", 1)[1]
    await settled(handle, lambda s: s.next_period == 1)

    changed = await handle.execute_update(
        SubscriptionWorkflow.change_plan, ChangePlan(plan=plan(100))
    )
    f = unused(changed.periods[0], changed.updated_at)
    credit, charge = round(3000 * f), round(100 * f)
    left = credit - charge - 100  # after period 1's own 100

    state = await advance(time_env, handle, 32, lambda s: s.next_period == 2)
    period = state.periods[1]
    assert (period.status, period.amount, period.payment_id) == ("paid", 0, None)
    assert state.credit_balance == left
    state = await advance(time_env, handle, 31, lambda s: s.next_period == 3)
    assert (state.periods[2].amount, state.credit_balance) == (0, left - 100)
    assert set(billing_payments(engine, sub_id)) == {f"{sub_id}:0"}


async def test_change_plan_is_validated(client, time_env, settings):
    handle = await start(client, time_env, settings, trial_days=7)
    current = (await state_of(handle)).plan
    for other, code in [
        (current, "plan_unchanged"),
        (plan(currency="EUR"), "plan_change_not_supported"),
        (plan(interval="year"), "plan_change_not_supported"),
        (plan(interval_count=3), "plan_change_not_supported"),
    ]:
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update(SubscriptionWorkflow.change_plan, ChangePlan(plan=other))
        assert failed.value.cause.details[0]["code"] == code
    # During the trial nothing was paid: the plan changes without proration.
    changed = await handle.execute_update(
        SubscriptionWorkflow.change_plan, ChangePlan(plan=plan(5000))
    )
    assert (changed.plan.amount, changed.pending_lines) == (5000, [])


async def test_dunning_then_recovery_with_a_new_card(client, time_env, settings, engine):
    handle = await start(client, time_env, settings, payment_method="tok_chargeDeclined")
    sub_id = handle.id.rsplit(":", 1)[1]

    state = await settled(handle, lambda s: s.status == "past_due")
    period = state.periods[0]
    assert period.status == "past_due" and len(period.attempts) == 1
    assert state.next_retry_at == period.first_failed_at + timedelta(days=1)
    assert state.grace_ends_at == period.first_failed_at + timedelta(days=7)
    assert state.next_charge_at == state.next_retry_at
    state = await advance(time_env, handle, 1.5, lambda s: len(s.periods[0].attempts) == 2)
    assert state.next_retry_at == period.first_failed_at + timedelta(days=3)

    state = await handle.execute_update(
        SubscriptionWorkflow.update_payment_method,
        UpdatePaymentMethodRequest(payment_method="tok_visa"),
    )
    assert state.status == "active"
    assert [a.status for a in state.periods[0].attempts] == ["declined", "declined", "succeeded"]
    assert (state.next_retry_at, state.grace_ends_at) == (None, None)
    assert billing_payments(engine, sub_id) == {
        f"{sub_id}:0": ["declined", "declined", "succeeded"]
    }


async def test_dunning_exhausted_cancels(client, time_env, settings, engine):
    handle = await start(client, time_env, settings, payment_method="tok_chargeDeclined")
    state = await handle.result()

    assert (state.status, state.next_charge_at) == ("canceled", None)
    period = state.periods[0]
    assert period.status == "failed" and len(period.attempts) == 4
    first = period.first_failed_at
    # Each retry at first failure + 1, 3, 7 days (``at`` is when its payment finished).
    for attempt, days in zip(period.attempts[1:], (1, 3, 7), strict=True):
        assert timedelta(days=days) <= attempt.at - first < timedelta(days=days, minutes=1)


async def test_dunning_exhausted_unpaid_waits_for_a_new_card(client, time_env, settings, engine):
    handle = await start(
        client,
        time_env,
        settings,
        payment_method="tok_chargeDeclined",
        on_dunning_exhausted="unpaid",
    )
    sub_id = handle.id.rsplit(":", 1)[1]
    await advance(time_env, handle, 8, lambda s: s.status == "unpaid")
    state = await advance(time_env, handle, 60, lambda s: s.status == "unpaid")
    assert (state.next_period, state.next_charge_at) == (0, None)
    assert len(billing_payments(engine, sub_id)[f"{sub_id}:0"]) == 4

    state = await handle.execute_update(
        SubscriptionWorkflow.update_payment_method,
        UpdatePaymentMethodRequest(payment_method="tok_visa"),
    )
    assert state.status == "active" and state.periods[0].status == "paid"
    # The periods whose start passed meanwhile are charged now, each once.
    state = await settled(handle, lambda s: s.next_period == 3)
    assert [p.status for p in state.periods] == ["paid", "paid", "paid"]
    payments = billing_payments(engine, sub_id)
    assert payments[f"{sub_id}:1"] == payments[f"{sub_id}:2"] == ["succeeded"]


async def test_cancel_at_period_end_and_now(client, time_env, settings, engine):
    handle = await start(client, time_env, settings)
    sub_id = handle.id.rsplit(":", 1)[1]
    await settled(handle, lambda s: s.next_period == 1)
    state = await handle.execute_update(
        SubscriptionWorkflow.cancel, CancelSubscriptionRequest(at_period_end=True)
    )
    assert (state.status, state.cancel_at_period_end, state.next_charge_at) == (
        "active",
        True,
        None,
    )
    final = await handle.result()
    assert final.status == "canceled"
    ended = final.canceled_at - boundary(final.anchor, "month", 1, 1)
    assert timedelta(0) <= ended < timedelta(minutes=1)
    assert set(billing_payments(engine, sub_id)) == {f"{sub_id}:0"}

    other = await start(client, time_env, settings)
    await settled(other, lambda s: s.next_period == 1)
    state = await other.execute_update(SubscriptionWorkflow.cancel, CancelSubscriptionRequest())
    assert state.status == "canceled"
    assert (await other.result()).status == "canceled"


async def test_continue_as_new_keeps_the_state(client, time_env, settings, engine):
    handle = await start(client, time_env, settings, history_limit=30)
    sub_id = handle.id.rsplit(":", 1)[1]
    await settled(handle, lambda s: s.next_period == 1)
    await handle.execute_update(SubscriptionWorkflow.change_plan, ChangePlan(plan=plan(1500)))

    state = await advance(time_env, handle, 6 * 31, lambda s: s.next_period == 7)
    assert state.runs > 2
    assert [p.index for p in state.periods] == list(range(7))
    assert all(p.status == "paid" for p in state.periods)
    assert state.periods[1].amount != 1500 and state.periods[2].amount == 1500
    payments = billing_payments(engine, sub_id)
    assert payments == {f"{sub_id}:{k}": ["succeeded"] for k in range(7)}
    # The latest run still answers updates.
    paused = await handle.execute_update(SubscriptionWorkflow.pause, PauseRequest())
    assert paused.status == "paused"
    with Session(engine) as session:
        assert session.get(SubscriptionRecord, sub_id).status == "paused"
