"""Installment plans: started with their whole schedule, paid early through an update,
resolved by an operator when dunning is exhausted, canceled (no automatic refunds)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.installment_reads import (
    plan_input,
    plan_not_found,
    problem,
    read_plan,
    send_update,
    start_plan,
    stored_plans,
)
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.routes.payments import IdempotencyKey, OptionalIdempotencyKey
from schemas.identity import new_installment_plan_id
from schemas.installments import (
    CancelInstallmentPlanRequest,
    CreateInstallmentPlanRequest,
    EarlyPaymentResult,
    InstallmentPlanList,
    InstallmentPlanState,
    PayInstallmentsRequest,
    ResolveRequest,
)
from workflows.installment_plan.workflow import InstallmentPlanWorkflow

router = APIRouter(prefix="/v1/installment-plans", tags=["installment plans"])

InstallmentPlanIdPath = Annotated[str, Path(description="An installment plan id, `ip_…`")]
UPDATE_PROBLEMS = ("installment_plan_not_found", "invalid_plan_state", "temporal_unavailable")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstallmentPlanState,
    responses=problems(
        "invoice_not_found",
        "invoice_locked",
        "invoice_expired",
        "invoice_changed",
        "invalid_installments",
        *IDEMPOTENCY_PROBLEMS,
        "temporal_unavailable",
    ),
)
async def create_installment_plan(
    tenant: TenantDep,
    body: CreateInstallmentPlanRequest,
    idempotency_key: IdempotencyKey,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Pay an invoice (which is locked from now on) or an amount in installments, charged
    in order on their due dates; an installment due now is charged before the answer."""

    async def start(plan_id: str | None) -> Response:
        plan = await plan_input(session, tenant, str(plan_id), body, settings)
        state = await start_plan(session, temporal, settings, plan)
        return json_response(state, status.HTTP_201_CREATED)

    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        start,
        new_resource_id=new_installment_plan_id(),
    )


@router.get("", response_model=InstallmentPlanList)
async def list_installment_plans(
    tenant: TenantDep,
    session: SessionDep,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    invoice_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> InstallmentPlanList:
    """Newest first, as last recorded."""
    return InstallmentPlanList(
        data=await run_in_threadpool(stored_plans, session, tenant, customer_id, invoice_id, limit)
    )


@router.get(
    "/{installment_plan_id}",
    response_model=InstallmentPlanState,
    responses=problems("installment_plan_not_found", "temporal_unavailable"),
)
async def get_installment_plan(
    tenant: TenantDep,
    installment_plan_id: InstallmentPlanIdPath,
    session: SessionDep,
    temporal: TemporalDep,
) -> InstallmentPlanState:
    state = await read_plan(session, temporal, tenant, installment_plan_id)
    if state is None:
        raise plan_not_found()
    return state


async def _update(request, session, temporal, idempotency, tenant, plan_id, update, arg, key):
    async def run(_: str | None) -> Response:
        state = await read_plan(session, temporal, tenant, plan_id)
        if state is None:
            raise plan_not_found()
        if state.status.is_final:
            raise problem("invalid_plan_state", f"the plan is {state.status.value}")
        # The key also names the update: Temporal runs it once per key.
        update_id = f"{update.__name__}:{key}" if key else None
        return json_response(await send_update(temporal, tenant, plan_id, update, arg, update_id))

    if key is None:
        return await run(None)
    return await execute_once(idempotency, tenant, key, fingerprint(request, arg), run)


@router.post(
    "/{installment_plan_id}/payments",
    response_model=EarlyPaymentResult,
    responses=problems(
        *UPDATE_PROBLEMS,
        "installment_out_of_order",
        "amount_exceeds_outstanding",
        *IDEMPOTENCY_PROBLEMS,
    ),
)
async def pay_installments(
    tenant: TenantDep,
    installment_plan_id: InstallmentPlanIdPath,
    idempotency_key: IdempotencyKey,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    body: PayInstallmentsRequest | None = None,
) -> Response:
    """Pay now: by default what remains of the next unpaid installment. More is applied to
    the following installments in order; a fully covered one is not charged on its date."""
    return await _update(
        request,
        session,
        temporal,
        idempotency,
        tenant,
        installment_plan_id,
        InstallmentPlanWorkflow.pay,
        body or PayInstallmentsRequest(),
        idempotency_key,
    )


@router.post(
    "/{installment_plan_id}/cancel",
    response_model=InstallmentPlanState,
    responses=problems(*UPDATE_PROBLEMS, *IDEMPOTENCY_PROBLEMS),
)
async def cancel_installment_plan(
    tenant: TenantDep,
    installment_plan_id: InstallmentPlanIdPath,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
    body: CancelInstallmentPlanRequest | None = None,
) -> Response:
    """Stops every future charge. Paid installments are not refunded automatically: their
    payment ids are in the plan; refund them with `POST /v1/payments/{id}/refunds`."""
    return await _update(
        request,
        session,
        temporal,
        idempotency,
        tenant,
        installment_plan_id,
        InstallmentPlanWorkflow.cancel,
        body or CancelInstallmentPlanRequest(),
        idempotency_key,
    )


@router.post(
    "/{installment_plan_id}/resolve",
    response_model=InstallmentPlanState,
    responses=problems(*UPDATE_PROBLEMS, *IDEMPOTENCY_PROBLEMS),
)
async def resolve_installment_plan(
    tenant: TenantDep,
    installment_plan_id: InstallmentPlanIdPath,
    body: ResolveRequest,
    idempotency_key: IdempotencyKey,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
) -> Response:
    """An operator's decision on a defaulted plan: `retry` now (optionally with a new
    `payment_method`), `waive` the failed installment (no money; the plan goes on), or
    `cancel`."""
    return await _update(
        request,
        session,
        temporal,
        idempotency,
        tenant,
        installment_plan_id,
        InstallmentPlanWorkflow.resolve,
        body,
        idempotency_key,
    )
