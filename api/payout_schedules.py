"""Payout schedules: one Temporal Schedule per connected account.

The schedule itself is the only copy of its configuration (its action's input), so what an
operator changes in the Temporal UI (pause, resume, a note) is what the API reports. Each
run starts ``ScheduledPayoutWorkflow`` at 00:00 UTC (every day, every Monday, or the 1st of
every month); runs never overlap (``SKIP``), and after an outage at most one day of missed
runs is caught up (each pays out whatever is available then, so one is enough).
"""

from collections.abc import Awaitable
from datetime import timedelta

from temporalio.client import Client
from temporalio.client import Schedule
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.client import ScheduleAlreadyRunningError
from temporalio.client import ScheduleCalendarSpec
from temporalio.client import ScheduleDescription
from temporalio.client import ScheduleHandle
from temporalio.client import ScheduleOverlapPolicy
from temporalio.client import SchedulePolicy
from temporalio.client import ScheduleRange
from temporalio.client import ScheduleSpec
from temporalio.client import ScheduleState
from temporalio.client import ScheduleUpdate
from temporalio.client import ScheduleUpdateInput
from temporalio.common import SearchAttributePair
from temporalio.common import TypedSearchAttributes
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from schemas.identity import payout_schedule_id
from schemas.identity import scheduled_payout_id
from schemas.money import format_minor
from schemas.payouts import PayoutInterval
from schemas.payouts import PayoutSchedule
from schemas.payouts import PayoutScheduleView
from schemas.payouts import ScheduledPayoutInput
from schemas.payouts import ScheduledRun
from workflows.kit import search_attributes
from workflows.payout.scheduled import ScheduledPayoutWorkflow

CALENDARS: dict[PayoutInterval, ScheduleCalendarSpec] = {
    "daily": ScheduleCalendarSpec(comment="every day at 00:00 UTC"),
    "weekly": ScheduleCalendarSpec(
        day_of_week=[ScheduleRange(1)], comment="every Monday at 00:00 UTC"
    ),
    "monthly": ScheduleCalendarSpec(
        day_of_month=[ScheduleRange(1)], comment="the 1st of every month at 00:00 UTC"
    ),
}
CATCHUP_WINDOW = timedelta(days=1)


def describe_plan(run: ScheduledPayoutInput) -> str:
    """What the schedule does, for operators (the schedule's note and its runs' summary)."""
    minimum = format_minor(run.minimum_amount, run.currency)
    return (
        f"{run.interval.capitalize()} payout of the available {run.currency} balance to "
        f"{run.account_id} ({CALENDARS[run.interval].comment}; skipped below {minimum})"
    )


def build_schedule(task_queue: str, run: ScheduledPayoutInput) -> Schedule:
    schedule_id = payout_schedule_id(run.tenant_id, run.account_id)
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ScheduledPayoutWorkflow.run,
            run,
            # Temporal appends the scheduled time: one workflow id (and payout id) per run.
            id=schedule_id,
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(search_attributes.TENANT_ID, run.tenant_id)]
            ),
            static_summary=describe_plan(run),
        ),
        spec=ScheduleSpec(calendars=[CALENDARS[run.interval]], time_zone_name="UTC"),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(note=describe_plan(run)),
    )


async def put_schedule(
    client: Client, task_queue: str, tenant_id: str, account_id: str, body: PayoutSchedule
) -> bool:
    """Create the account's schedule, or replace its plan (keeping a pause). True if created."""
    run = ScheduledPayoutInput(tenant_id=tenant_id, account_id=account_id, **body.model_dump())
    schedule = build_schedule(task_queue, run)
    schedule_id = payout_schedule_id(tenant_id, account_id)
    try:
        await client.create_schedule(
            schedule_id, schedule, memo={"tenant_id": tenant_id, "account_id": account_id}
        )
        return True
    except ScheduleAlreadyRunningError:
        pass

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        if current.description.schedule.state.paused:
            schedule.state = current.description.schedule.state  # the pause and its note
        return ScheduleUpdate(schedule=schedule)

    await client.get_schedule_handle(schedule_id).update(replace)
    return False


async def describe_schedule(
    client: Client, tenant_id: str, account_id: str
) -> PayoutScheduleView | None:
    """The schedule as Temporal describes it now; None when the account has none."""
    try:
        description = await _handle(client, tenant_id, account_id).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return await view(client, description)


async def pause_schedule(
    client: Client, tenant_id: str, account_id: str, note: str | None
) -> PayoutScheduleView | None:
    return await _act(client, tenant_id, account_id, "pause", note or "paused through the API")


async def resume_schedule(
    client: Client, tenant_id: str, account_id: str
) -> PayoutScheduleView | None:
    return await _act(client, tenant_id, account_id, "unpause", "resumed through the API")


async def delete_schedule(client: Client, tenant_id: str, account_id: str) -> bool:
    return await _found(_handle(client, tenant_id, account_id).delete())


async def _act(
    client: Client, tenant_id: str, account_id: str, action: str, note: str
) -> PayoutScheduleView | None:
    handle = _handle(client, tenant_id, account_id)
    if not await _found(getattr(handle, action)(note=note)):
        return None
    return await describe_schedule(client, tenant_id, account_id)


def _handle(client: Client, tenant_id: str, account_id: str) -> ScheduleHandle:
    return client.get_schedule_handle(payout_schedule_id(tenant_id, account_id))


async def _found(action: Awaitable[None]) -> bool:
    """Run an action on a schedule: False when there is no such schedule."""
    try:
        await action
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def view(client: Client, description: ScheduleDescription) -> PayoutScheduleView:
    action = description.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    (run,) = await client.data_converter.decode(action.args, [ScheduledPayoutInput])
    info, state = description.info, description.schedule.state
    return PayoutScheduleView(
        schedule_id=description.id,
        account_id=run.account_id,
        interval=run.interval,
        minimum_amount=run.minimum_amount,
        currency=run.currency,
        paused=state.paused,
        note=state.note,
        next_run_at=list(info.next_action_times),
        recent_runs=[
            ScheduledRun(
                scheduled_at=result.scheduled_at,
                started_at=result.started_at,
                workflow_id=result.action.workflow_id,
                payout_id=scheduled_payout_id(result.action.workflow_id),
            )
            for result in info.recent_actions
        ],
        created_at=info.created_at,
        updated_at=info.last_updated_at,
    )
