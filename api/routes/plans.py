"""Plans: a price and a billing cadence that subscriptions are sold on."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep
from api.idempotency import execute_once, fingerprint, json_response
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.problems import Problem
from api.routes.payments import OptionalIdempotencyKey
from api.subscription_reads import insert_plan, stored_plan, stored_plans
from schemas.identity import new_plan_id
from schemas.subscriptions import CreatePlanRequest, Plan, PlanList

router = APIRouter(prefix="/v1/plans", tags=["subscriptions"])

PlanIdPath = Annotated[str, Path(description="A plan id, `plan_…`")]


def plan_not_found() -> Problem:
    return Problem(404, "plan_not_found", "No such plan")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Plan,
    responses=problems(*IDEMPOTENCY_PROBLEMS),
)
async def create_plan(
    tenant: TenantDep,
    body: CreatePlanRequest,
    request: Request,
    session: SessionDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    """A plan: amount per `interval_count` * `interval`, with an optional trial."""

    async def create(plan_id: str | None) -> Response:
        plan = await run_in_threadpool(insert_plan, session, tenant, plan_id or new_plan_id(), body)
        return json_response(plan, status.HTTP_201_CREATED)

    if idempotency_key is None:
        return await create(None)
    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        create,
        new_resource_id=new_plan_id(),
    )


@router.get("", response_model=PlanList)
async def list_plans(
    tenant: TenantDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> PlanList:
    """The tenant's plans, newest first."""
    return PlanList(data=await run_in_threadpool(stored_plans, session, tenant, limit))


@router.get("/{plan_id}", response_model=Plan, responses=problems("plan_not_found"))
async def get_plan(tenant: TenantDep, plan_id: PlanIdPath, session: SessionDep) -> Plan:
    plan = await run_in_threadpool(stored_plan, session, tenant, plan_id)
    if plan is None:
        raise plan_not_found()
    return plan
