"""Plans: a price and a billing cadence that subscriptions are sold on."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Response
from fastapi import status

from api.auth import TenantDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.query_parameters import PageSize
from api.records import PLANS
from schemas.subscriptions import CreatePlanRequest
from schemas.subscriptions import Plan
from schemas.subscriptions import PlanList

router = APIRouter(prefix="/v1/plans", tags=["subscriptions"])

PlanIdPath = Annotated[str, Path(description="A plan id, `plan_…`")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Plan,
    responses=problems("quota_exceeded", *IDEMPOTENCY_PROBLEMS),
)
async def create_plan(
    body: CreatePlanRequest,
    session: SessionDep,
    once: OptionallyIdempotentDep,
    settings: SettingsDep,
) -> Response:
    """A plan: amount per `interval_count` * `interval`, with an optional trial. A tenant at
    its quota of plans gets 409 `quota_exceeded`."""

    return await PLANS.create(session, once, settings.quotas, body, body.model_dump())


@router.get("")
async def list_plans(tenant: TenantDep, session: SessionDep, limit: PageSize = 100) -> PlanList:
    """The tenant's plans, newest first."""
    return PlanList(data=await PLANS.newest(session, tenant, limit))


@router.get("/{plan_id}", responses=problems("plan_not_found"))
async def get_plan(tenant: TenantDep, plan_id: PlanIdPath, session: SessionDep) -> Plan:
    return await PLANS.find(session, tenant, plan_id)
