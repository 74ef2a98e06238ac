"""Connected accounts (where payouts go) and their payout schedules (Temporal Schedules)."""

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from temporalio.service import RPCError

from api import payout_schedules
from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.payout_reads import (
    connected_accounts,
    create_connected_account,
    stored_connected_account,
)
from api.problems import Problem
from api.routes.payments import OptionalIdempotencyKey
from schemas.identity import new_account_id
from schemas.payouts import (
    ConnectedAccount,
    ConnectedAccountList,
    CreateConnectedAccountRequest,
    PauseScheduleRequest,
    PayoutSchedule,
    PayoutScheduleView,
)

router = APIRouter(prefix="/v1/connected-accounts", tags=["connected accounts"])

AccountIdPath = Annotated[str, Path(description="A connected account id, `acct_…`")]
SCHEDULE_PROBLEMS = ("connected_account_not_found", "payout_schedule_not_found")


def account_not_found() -> Problem:
    return Problem(404, "connected_account_not_found", "No such connected account")


def schedule_not_found() -> Problem:
    return Problem(404, "payout_schedule_not_found", "This account has no payout schedule")


def temporal_unavailable(error: RPCError) -> Problem:
    return Problem(503, "temporal_unavailable", "Temporal is unreachable", error.message)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectedAccount,
    responses=problems(*IDEMPOTENCY_PROBLEMS),
)
async def create_account(
    tenant: TenantDep,
    body: CreateConnectedAccountRequest,
    request: Request,
    session: SessionDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    """Add a connected account: a bank-account token (`ba_…`) payouts are paid out to."""

    async def create(account_id: str | None) -> Response:
        account = await run_in_threadpool(
            create_connected_account, session, tenant, account_id or new_account_id(), body
        )
        return json_response(account, status.HTTP_201_CREATED)

    if idempotency_key is None:
        return await create(None)
    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        create,
        new_resource_id=new_account_id(),
    )


@router.get("", response_model=ConnectedAccountList)
async def list_accounts(
    tenant: TenantDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> ConnectedAccountList:
    """The tenant's connected accounts, newest first."""
    return ConnectedAccountList(
        data=await run_in_threadpool(connected_accounts, session, tenant, limit)
    )


@router.get(
    "/{account_id}",
    response_model=ConnectedAccount,
    responses=problems("connected_account_not_found"),
)
async def get_account(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep
) -> ConnectedAccount:
    return await _account(session, tenant, account_id)


async def _account(session, tenant: str, account_id: str) -> ConnectedAccount:
    account = await run_in_threadpool(stored_connected_account, session, tenant, account_id)
    if account is None:
        raise account_not_found()
    return account


@router.put(
    "/{account_id}/payout-schedule",
    response_model=PayoutScheduleView,
    responses={
        201: {"model": PayoutScheduleView, "description": "Created"},
        **problems("connected_account_not_found", "temporal_unavailable"),
    },
)
async def put_payout_schedule(
    tenant: TenantDep,
    account_id: AccountIdPath,
    body: PayoutSchedule,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> Response:
    """Pay the available balance out automatically: create the account's schedule (201) or
    change its plan (200; a paused schedule stays paused)."""
    await _account(session, tenant, account_id)
    try:
        created = await payout_schedules.put_schedule(
            temporal, settings.task_queue, tenant, account_id, body
        )
        view = await payout_schedules.describe_schedule(temporal, tenant, account_id)
    except RPCError as e:
        raise temporal_unavailable(e) from e
    if view is None:  # deleted concurrently
        raise schedule_not_found()
    return json_response(view, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get(
    "/{account_id}/payout-schedule",
    response_model=PayoutScheduleView,
    responses=problems(*SCHEDULE_PROBLEMS, "temporal_unavailable"),
)
async def get_payout_schedule(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep, temporal: TemporalDep
) -> PayoutScheduleView:
    """The schedule as Temporal runs it: plan, paused (here or in the Temporal UI), note,
    next run times and the latest runs with their payout ids."""
    await _account(session, tenant, account_id)
    return await _schedule_view(payout_schedules.describe_schedule(temporal, tenant, account_id))


@router.post(
    "/{account_id}/payout-schedule/pause",
    response_model=PayoutScheduleView,
    responses=problems(*SCHEDULE_PROBLEMS, "temporal_unavailable"),
)
async def pause_payout_schedule(
    tenant: TenantDep,
    account_id: AccountIdPath,
    session: SessionDep,
    temporal: TemporalDep,
    body: PauseScheduleRequest | None = None,
) -> PayoutScheduleView:
    """Stop scheduled payouts until resumed; the note says why (shown in the Temporal UI)."""
    await _account(session, tenant, account_id)
    note = body.note if body else None
    return await _schedule_view(payout_schedules.pause_schedule(temporal, tenant, account_id, note))


@router.post(
    "/{account_id}/payout-schedule/resume",
    response_model=PayoutScheduleView,
    responses=problems(*SCHEDULE_PROBLEMS, "temporal_unavailable"),
)
async def resume_payout_schedule(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep, temporal: TemporalDep
) -> PayoutScheduleView:
    await _account(session, tenant, account_id)
    return await _schedule_view(payout_schedules.resume_schedule(temporal, tenant, account_id))


@router.delete(
    "/{account_id}/payout-schedule",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problems(*SCHEDULE_PROBLEMS, "temporal_unavailable"),
)
async def delete_payout_schedule(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep, temporal: TemporalDep
) -> Response:
    """Stop scheduled payouts for good (a payout already running finishes)."""
    await _account(session, tenant, account_id)
    try:
        deleted = await payout_schedules.delete_schedule(temporal, tenant, account_id)
    except RPCError as e:
        raise temporal_unavailable(e) from e
    if not deleted:
        raise schedule_not_found()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _schedule_view(action: Awaitable[PayoutScheduleView | None]) -> PayoutScheduleView:
    """The schedule after ``action``; 404 when the account has none."""
    try:
        view = await action
    except RPCError as e:
        raise temporal_unavailable(e) from e
    if view is None:
        raise schedule_not_found()
    return view
