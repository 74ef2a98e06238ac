"""Connected accounts (where payouts go) and their payout schedules (Temporal Schedules)."""

from collections.abc import Awaitable
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Response
from fastapi import status
from fastapi.responses import JSONResponse

from api import connected_accounts
from api import payout_schedules
from api.auth import TenantDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import ProvidersDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalDep
from api.idempotency import json_response
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import require_enabled_provider
from api.problems import Problem
from api.provider_answers import adapter_of
from api.query_parameters import PageSize
from api.records import CONNECTED_ACCOUNTS
from api.sagas import temporal_call
from schemas.payouts import ConnectedAccount
from schemas.payouts import ConnectedAccountList
from schemas.payouts import CreateConnectedAccountRequest
from schemas.payouts import OnboardingLinkRequest
from schemas.payouts import PauseScheduleRequest
from schemas.payouts import PayoutSchedule
from schemas.payouts import PayoutScheduleView
from schemas.provider import OnboardingLink

router = APIRouter(prefix="/v1/connected-accounts", tags=["connected accounts"])

AccountIdPath = Annotated[str, Path(description="A connected account id, `acct_…`")]
SCHEDULE_PROBLEMS = ("connected_account_not_found", "payout_schedule_not_found")


PROVIDER_PROBLEMS = ("provider_not_configured", "provider_refused", "provider_unavailable")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConnectedAccount,
    responses=problems(
        "provider_disabled", "quota_exceeded", *PROVIDER_PROBLEMS, *IDEMPOTENCY_PROBLEMS
    ),
)
async def create_account(
    body: CreateConnectedAccountRequest,
    session: SessionDep,
    once: OptionallyIdempotentDep,
    settings: SettingsDep,
    providers: ProvidersDep,
) -> Response:
    """Add a connected account, made at its provider (Stripe: an Express account), paying
    out to a bank-account token (`ba_…`). It starts with payouts off and requirements due
    until its holder onboards (`POST …/onboarding-link`); its standing follows the
    provider's `account.updated` webhook (or `POST …/refresh`). A tenant at its quota of
    connected accounts gets 409 `quota_exceeded` before the provider is asked."""
    require_enabled_provider(settings, body.provider)
    adapter = adapter_of(providers, body.provider)
    fields = body.model_dump(include={"name", "provider", "bank_account"})

    def made_at_provider(account_id: str):
        return connected_accounts.made_at_provider(adapter, once.tenant, account_id, fields)

    return await CONNECTED_ACCOUNTS.create(
        session, once, settings.quotas, body, fields, made_at_provider
    )


@router.get("")
async def list_accounts(
    tenant: TenantDep, session: SessionDep, limit: PageSize = 100
) -> ConnectedAccountList:
    """The tenant's connected accounts, newest first."""
    return ConnectedAccountList(data=await CONNECTED_ACCOUNTS.newest(session, tenant, limit))


@router.get("/{account_id}", responses=problems("connected_account_not_found"))
async def get_account(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep
) -> ConnectedAccount:
    return await CONNECTED_ACCOUNTS.find(session, tenant, account_id)


@router.post(
    "/{account_id}/onboarding-link",
    response_model=OnboardingLink,
    responses=problems("connected_account_not_found", "invalid_state", *PROVIDER_PROBLEMS),
)
async def create_onboarding_link(
    tenant: TenantDep,
    account_id: AccountIdPath,
    body: OnboardingLinkRequest,
    session: SessionDep,
    providers: ProvidersDep,
) -> Response:
    """A page at the provider where the account's holder onboards (single use, expiring in
    minutes: ask for a new one when `refresh_url` is reached). Never stored; answered with
    `Cache-Control: no-store`."""
    account = await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
    link = await connected_accounts.onboarding_link(providers, account, body)
    return JSONResponse(link.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


@router.post(
    "/{account_id}/refresh",
    responses=problems("connected_account_not_found", "invalid_state", *PROVIDER_PROBLEMS),
)
async def refresh_account(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep, providers: ProvidersDep
) -> ConnectedAccount:
    """Ask the provider how the account stands now (payouts enabled, requirements due) and
    store it: after the holder comes back to `return_url`, or where no webhook arrives."""
    account = await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
    return await connected_accounts.refresh(session, providers, account)


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
    await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
    with temporal_call():
        created = await payout_schedules.put_schedule(
            temporal, settings.task_queue, tenant, account_id, body
        )
    view = await _schedule_view(payout_schedules.describe_schedule(temporal, tenant, account_id))
    return json_response(view, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get(
    "/{account_id}/payout-schedule", responses=problems(*SCHEDULE_PROBLEMS, "temporal_unavailable")
)
async def get_payout_schedule(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep, temporal: TemporalDep
) -> PayoutScheduleView:
    """The schedule as Temporal runs it: plan, paused (here or in the Temporal UI), note,
    next run times and the latest runs with their payout ids."""
    await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
    return await _schedule_view(payout_schedules.describe_schedule(temporal, tenant, account_id))


@router.post(
    "/{account_id}/payout-schedule/pause",
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
    await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
    note = body.note if body else None
    return await _schedule_view(payout_schedules.pause_schedule(temporal, tenant, account_id, note))


@router.post(
    "/{account_id}/payout-schedule/resume",
    responses=problems(*SCHEDULE_PROBLEMS, "temporal_unavailable"),
)
async def resume_payout_schedule(
    tenant: TenantDep, account_id: AccountIdPath, session: SessionDep, temporal: TemporalDep
) -> PayoutScheduleView:
    await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
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
    await CONNECTED_ACCOUNTS.find(session, tenant, account_id)
    with temporal_call():
        deleted = await payout_schedules.delete_schedule(temporal, tenant, account_id)
    if not deleted:
        raise Problem("payout_schedule_not_found")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _schedule_view(action: Awaitable[PayoutScheduleView | None]) -> PayoutScheduleView:
    """The schedule after ``action``; 404 when the account has none (or it was deleted
    meanwhile)."""
    with temporal_call():
        view = await action
    if view is None:
        raise Problem("payout_schedule_not_found")
    return view
