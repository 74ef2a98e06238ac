"""PayoutWorkflow and scheduled payouts on the real dev server (updates and schedules need
it), with the real sandbox gateway and SQL. The tenant is funded by a real payment."""

import asyncio
import uuid
from datetime import UTC

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.client import WithStartWorkflowOperation
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from api.payout_schedules import delete_schedule
from api.payout_schedules import describe_schedule
from api.payout_schedules import pause_schedule
from api.payout_schedules import put_schedule
from api.payout_schedules import resume_schedule
from schemas import errors
from schemas.identity import new_payout_id
from schemas.identity import payout_schedule_id
from schemas.identity import payout_workflow_id
from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import PAYOUT_RESERVE
from schemas.ledger import connected_balance
from schemas.ledger import provider_clearing
from schemas.payments import PaymentStatus
from schemas.payouts import PayoutInput
from schemas.payouts import PayoutSchedule
from schemas.payouts import PayoutState
from schemas.payouts import PayoutStatus
from schemas.payouts import ScheduledPayoutResult
from schemas.store.ledger_reports import balance
from schemas.store.tables import PayoutRecord
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.sagas import add_connected_account
from tests.support.worker import running_worker
from workflows.payout.scheduled import ScheduledPayoutWorkflow
from workflows.payout.workflow import PayoutWorkflow


@pytest.fixture
async def client(local_env, settings, engine):
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client


@pytest.fixture
def tenant() -> str:
    return f"ten_po_{uuid.uuid4().hex[:8]}"


async def fund(client: Client, settings, tenant: str, amount: int) -> None:
    """A real payment, run to success: the merchant balance holds it (less the fee)."""
    payment = payment_input(tenant_id=tenant, amount=amount)
    state = await (await start_payment(client, settings, payment)).result()
    assert state.status == PaymentStatus.SUCCEEDED, state.failure_message


def ledger(engine: Engine, tenant: str, account_id: str) -> dict[str, int]:
    codes = {
        "merchant": MERCHANT_BALANCE,
        "reserve": PAYOUT_RESERVE,
        "connected": connected_balance(account_id),
        "clearing": provider_clearing("sandbox"),
    }
    with Session(engine) as session:
        return {name: balance(session, tenant, code, "USD") for name, code in codes.items()}


async def pay_out(
    client: Client, settings, tenant: str, account_id: str, amount: int | None
) -> PayoutState:
    payout = PayoutInput(
        payout_id=new_payout_id(),
        tenant_id=tenant,
        account_id=account_id,
        amount=amount,
        currency="USD",
    )
    # With start, as the API does: a rejected payout ends before a separate update arrives.
    start = WithStartWorkflowOperation(
        PayoutWorkflow.run,
        payout,
        id=payout_workflow_id(tenant, payout.payout_id),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    state = await client.execute_update_with_start_workflow(
        PayoutWorkflow.wait_for_result, start_workflow_operation=start
    )
    handle = await start.workflow_handle()
    assert await handle.result() == state
    # The finished history replays on the current code (no non-determinism).
    replayer = Replayer(workflows=[PayoutWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(await handle.fetch_history())
    return state


def steps_of(state: PayoutState) -> list[tuple[str, str, str]]:
    return [(step.kind, step.name, step.outcome) for step in state.steps]


async def test_a_payout_moves_the_money_to_the_bank(client, settings, engine, gateway, tenant):
    await fund(client, settings, tenant, 10_000)
    account_id = add_connected_account(engine, tenant)
    before = ledger(engine, tenant, account_id)

    state = await pay_out(client, settings, tenant, account_id, 6_000)

    assert (state.status, state.amount, state.failure_code) == (
        PayoutStatus.SUCCEEDED,
        6_000,
        None,
    )
    assert steps_of(state) == [
        ("step", "reserve_payout", "succeeded"),
        ("step", "transfer_to_connected_account", "succeeded"),
        ("step", "record_payout", "succeeded"),
        ("step", "pay_out_to_bank", "succeeded"),
        ("step", "record_payout", "succeeded"),
    ]
    assert ledger(engine, tenant, account_id) == {
        "merchant": before["merchant"] + 6_000,
        "reserve": 0,
        "connected": 0,
        "clearing": before["clearing"] - 6_000,
    }
    with Session(engine) as session:
        row = session.get(PayoutRecord, state.payout_id)
        assert PayoutState.model_validate_json(row.state_json) == state
    params = {"reference": state.payout_id}
    transfers = (await gateway.get("/v1/transfers", params=params)).json()["data"]
    payouts = (await gateway.get("/v1/payouts", params=params)).json()["data"]
    assert [(t["id"], t["amount"], t["status"], t["destination"]) for t in transfers] == [
        (state.transfer_reference, 6_000, "paid", account_id)
    ]
    assert [(p["id"], p["amount"], p["status"]) for p in payouts] == [
        (state.payout_reference, 6_000, "paid")
    ]


async def test_a_payout_the_bank_refuses_is_reversed_and_released(
    client, settings, engine, gateway, tenant
):
    await fund(client, settings, tenant, 8_000)
    account_id = add_connected_account(engine, tenant, "ba_payoutFails")
    before = ledger(engine, tenant, account_id)

    state = await pay_out(client, settings, tenant, account_id, None)

    assert state.amount == -before["merchant"]  # everything available
    assert (state.status, state.failure_code) == (PayoutStatus.FAILED, "account_closed")
    assert state.failure_message
    assert steps_of(state) == [
        ("step", "reserve_payout", "succeeded"),
        ("step", "transfer_to_connected_account", "succeeded"),
        ("step", "record_payout", "succeeded"),
        ("step", "pay_out_to_bank", "failed"),
        ("compensation", "reverse_transfer", "succeeded"),
        ("compensation", "release_payout_reservation", "succeeded"),
        ("step", "record_payout", "succeeded"),
    ]
    assert ledger(engine, tenant, account_id) == before
    with Session(engine) as session:
        row = session.get(PayoutRecord, state.payout_id)
    assert (row.status, row.failure_code) == ("failed", "account_closed")
    params = {"reference": state.payout_id}
    transfer = (await gateway.get("/v1/transfers", params=params)).json()["data"][0]
    assert (transfer["status"], transfer["amount_reversed"]) == ("reversed", state.amount)
    payout = (await gateway.get("/v1/payouts", params=params)).json()["data"][0]
    assert (payout["status"], payout["failure_code"]) == ("failed", "account_closed")

    # The money is the merchant's again: it can be paid out elsewhere.
    other = add_connected_account(engine, tenant)
    assert (await pay_out(client, settings, tenant, other, None)).status == "succeeded"


async def test_a_payout_above_the_balance_is_rejected_and_changes_nothing(
    client, settings, engine, tenant
):
    await fund(client, settings, tenant, 2_000)
    account_id = add_connected_account(engine, tenant)
    before = ledger(engine, tenant, account_id)

    with pytest.raises(WorkflowUpdateFailedError) as rejected:
        await pay_out(client, settings, tenant, account_id, 2_001)

    cause = rejected.value.cause
    assert cause.type == errors.REJECTED
    assert cause.details[0]["code"] == "insufficient_balance"
    assert ledger(engine, tenant, account_id) == before


async def scheduled_run(
    client: Client, schedule_id: str, runs_before: int
) -> ScheduledPayoutResult:
    """Trigger the schedule now and wait for the run it starts."""
    handle = client.get_schedule_handle(schedule_id)
    await handle.trigger()
    async with asyncio.timeout(30):
        while True:
            description = await handle.describe()
            if len(description.info.recent_actions) > runs_before:
                break
            await asyncio.sleep(0.2)
    workflow_id = description.info.recent_actions[-1].action.workflow_id
    run = client.get_workflow_handle_for(ScheduledPayoutWorkflow.run, workflow_id)
    return await run.result()


async def test_a_schedule_pays_out_the_balance_and_skips_when_below_minimum(
    client, settings, engine, gateway, tenant
):
    await fund(client, settings, tenant, 5_000)
    account_id = add_connected_account(engine, tenant)
    available = -ledger(engine, tenant, account_id)["merchant"]
    schedule = PayoutSchedule(interval="daily", minimum_amount=1_000, currency="USD")
    assert await put_schedule(client, settings.task_queue, tenant, account_id, schedule)
    schedule_id = payout_schedule_id(tenant, account_id)
    try:
        paid = await scheduled_run(client, schedule_id, runs_before=0)

        assert paid.outcome == "paid"
        assert (paid.payout.status, paid.payout.amount) == (PayoutStatus.SUCCEEDED, available)
        assert ledger(engine, tenant, account_id)["merchant"] == 0
        payouts = (await gateway.get("/v1/payouts", params={"reference": paid.payout_id})).json()
        assert [p["amount"] for p in payouts["data"]] == [available]
        with Session(engine) as session:
            assert session.get(PayoutRecord, paid.payout_id).status == "succeeded"

        await asyncio.sleep(1.1)  # a run's workflow id carries its time, to the second
        skipped = await scheduled_run(client, schedule_id, runs_before=1)

        assert skipped.outcome == "skipped"
        assert skipped.payout.failure_code == "below_minimum"
        with Session(engine) as session:
            assert session.get(PayoutRecord, skipped.payout_id) is None
        view = await describe_schedule(client, tenant, account_id)
        assert [run.payout_id for run in view.recent_runs] == [paid.payout_id, skipped.payout_id]
        assert (view.interval, view.minimum_amount, view.paused) == ("daily", 1_000, False)
        tomorrow = view.next_run_at[0]
        assert (tomorrow.hour, tomorrow.minute, tomorrow.tzinfo) == (0, 0, UTC)
    finally:
        await delete_schedule(client, tenant, account_id)


async def test_a_paused_schedule_reports_paused_and_keeps_the_pause_when_changed(
    client, settings, engine, tenant
):
    account_id = add_connected_account(engine, tenant)
    weekly = PayoutSchedule(interval="weekly", minimum_amount=500, currency="USD")
    assert await put_schedule(client, settings.task_queue, tenant, account_id, weekly)
    try:
        paused = await pause_schedule(client, tenant, account_id, "bank details under review")
        assert (paused.paused, paused.note) == (True, "bank details under review")

        monthly = weekly.model_copy(update={"interval": "monthly"})
        assert not await put_schedule(client, settings.task_queue, tenant, account_id, monthly)
        changed = await describe_schedule(client, tenant, account_id)
        assert (changed.interval, changed.paused, changed.note) == (
            "monthly",
            True,
            "bank details under review",
        )

        resumed = await resume_schedule(client, tenant, account_id)
        assert (resumed.paused, resumed.note) == (False, "resumed through the API")
        assert resumed.next_run_at
        assert all((at.day, at.hour) == (1, 0) for at in resumed.next_run_at)
    finally:
        assert await delete_schedule(client, tenant, account_id)
    assert await describe_schedule(client, tenant, account_id) is None
    assert await pause_schedule(client, tenant, account_id, None) is None
