"""Payouts: admitted and run by PayoutWorkflow; read from the read model (and its query)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.payout_reads import read_payout, stored_connected_account, stored_payouts
from api.problems import Problem
from api.routes.connected_accounts import account_not_found
from api.routes.payments import IdempotencyKey
from api.saga_start import start_and_wait
from schemas.identity import new_payout_id, payout_workflow_id
from schemas.money import format_minor
from schemas.payouts import CreatePayoutRequest, PayoutInput, PayoutList, PayoutState
from workflows.kit import search_attributes
from workflows.payout.workflow import PayoutWorkflow

router = APIRouter(prefix="/v1/payouts", tags=["payouts"])

PayoutIdPath = Annotated[str, Path(description="A payout id, `po_…`")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PayoutState,
    responses={
        202: {"model": PayoutState, "description": "Accepted: the provider has not answered yet"},
        **problems(
            "connected_account_not_found",
            "insufficient_balance",
            "below_minimum",
            *IDEMPOTENCY_PROBLEMS,
            "ledger_unavailable",
            "temporal_unavailable",
        ),
    },
)
async def create_payout(
    tenant: TenantDep,
    body: CreatePayoutRequest,
    idempotency_key: IdempotencyKey,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Pay part or all (no `amount`) of the available merchant balance out to a connected
    account's bank: reserved, transferred to the account, then paid out. Payouts that race
    never take more than is available (admission is serialized)."""

    async def start(payout_id: str | None) -> Response:
        account = await run_in_threadpool(
            stored_connected_account, session, tenant, body.connected_account
        )
        if account is None:
            raise account_not_found()
        payout = PayoutInput(
            payout_id=str(payout_id),
            tenant_id=tenant,
            account_id=account.account_id,
            amount=body.amount,
            currency=body.currency,
            provider_deadline=settings.provider_deadline,
        )
        state = await _run(temporal, settings, session, payout)
        code = status.HTTP_202_ACCEPTED if not state.status.is_final else status.HTTP_201_CREATED
        return json_response(state, code)

    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        start,
        new_resource_id=new_payout_id(),
        replay_202=False,
    )


async def _run(temporal, settings, session, payout: PayoutInput) -> PayoutState:
    amount = (
        f"the available {payout.currency} balance"
        if payout.amount is None
        else format_minor(payout.amount, payout.currency)
    )

    async def stored() -> PayoutState | None:
        return await read_payout(session, temporal, payout.tenant_id, payout.payout_id)

    def accepted() -> PayoutState:
        now = datetime.now(UTC)
        return PayoutState(
            **payout.model_dump(include={"payout_id", "tenant_id", "account_id", "currency"}),
            amount=payout.amount or 0,
            created_at=now,
            updated_at=now,
        )

    return await start_and_wait(
        temporal,
        settings,
        PayoutWorkflow,
        payout,
        payout_workflow_id(payout.tenant_id, payout.payout_id),
        f"payout of {amount} to {payout.account_id}",
        stored,
        accepted,
        search_attributes.money_movement(payout.tenant_id, payout.currency, payout.amount),
    )


@router.get("", response_model=PayoutList)
async def list_payouts(
    tenant: TenantDep,
    session: SessionDep,
    connected_account: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> PayoutList:
    """The tenant's payouts, newest first; `connected_account` keeps one account's."""
    return PayoutList(
        data=await run_in_threadpool(stored_payouts, session, tenant, connected_account, limit)
    )


@router.get(
    "/{payout_id}",
    response_model=PayoutState,
    responses=problems("payout_not_found", "temporal_unavailable"),
)
async def get_payout(
    tenant: TenantDep, payout_id: PayoutIdPath, session: SessionDep, temporal: TemporalDep
) -> PayoutState:
    state = await read_payout(session, temporal, tenant, payout_id)
    if state is None:
        raise Problem(404, "payout_not_found", "No such payout")
    return state
