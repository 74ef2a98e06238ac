"""Payouts: admitted and run by PayoutWorkflow; read from the read model (and its query)."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Response
from fastapi import status

from api.auth import TenantDep
from api.dependencies import IdempotentDep
from api.dependencies import SessionDep
from api.dependencies import run_transaction
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import require_enabled_provider
from api.problems import Problem
from api.query_parameters import PageSize
from api.records import CONNECTED_ACCOUNTS
from api.sagas import PAYOUTS
from api.sagas import SagasDep
from api.sagas import created_or_accepted
from schemas.identity import new_payout_id
from schemas.money import format_minor
from schemas.payouts import CreatePayoutRequest
from schemas.payouts import PayoutInput
from schemas.payouts import PayoutList
from schemas.payouts import PayoutState
from workflows.kit import search_attributes

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
            "provider_disabled",
            "payouts_not_enabled",
            "insufficient_balance",
            "below_minimum",
            *IDEMPOTENCY_PROBLEMS,
            "ledger_unavailable",
            "temporal_unavailable",
        ),
    },
)
async def create_payout(
    body: CreatePayoutRequest, once: IdempotentDep, sagas: SagasDep
) -> Response:
    """Pay part or all (no `amount`) of the available merchant balance out to a connected
    account's bank: reserved, transferred to the account, then paid out. Payouts that race
    never take more than is available (admission is serialized)."""

    async def start(payout_id: str) -> Response:
        account = await CONNECTED_ACCOUNTS.find(sagas.session, sagas.tenant, body.connected_account)
        # An account made while the sandbox was on cannot draw on real money after.
        require_enabled_provider(sagas.settings, account.provider)
        refused = account.payouts_refused()
        if refused is not None:  # before anything is reserved (the admission refuses too)
            raise Problem("payouts_not_enabled", refused)
        payout = PayoutInput(
            payout_id=payout_id,
            tenant_id=sagas.tenant,
            account_id=account.account_id,
            amount=body.amount,
            currency=body.currency,
            method=body.method,
            provider_deadline=sagas.settings.provider_deadline,
        )
        amount = (
            f"the available {payout.currency} balance"
            if payout.amount is None
            else format_minor(payout.amount, payout.currency)
        )
        state = await sagas.start(
            PAYOUTS,
            payout,
            payout_id,
            summary=f"payout of {amount} to {payout.account_id}",
            search_attributes=search_attributes.money_movement(
                sagas.tenant, payout.currency, payout.amount
            ),
        )
        return created_or_accepted(state)

    return await once.create(start, body, new_payout_id, replay_202=False)


@router.get("")
async def list_payouts(
    tenant: TenantDep,
    session: SessionDep,
    connected_account: Annotated[str | None, Query(max_length=40)] = None,
    limit: PageSize = 100,
) -> PayoutList:
    """The tenant's payouts, newest first; `connected_account` keeps one account's."""
    # Only the tenant's: another tenant's account lists nothing.
    payouts = await run_transaction(
        session, PAYOUTS.read_model.newest, tenant, limit, account_id=connected_account
    )
    return PayoutList(data=payouts)


@router.get("/{payout_id}", responses=problems("payout_not_found", "temporal_unavailable"))
async def get_payout(sagas: SagasDep, payout_id: PayoutIdPath) -> PayoutState:
    return await sagas.find(PAYOUTS, payout_id)
