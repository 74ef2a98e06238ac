"""Admin API: tenants, their keys, operators' review of tenants' payments, and the audit log
of what admins did."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Request
from fastapi import Response
from fastapi import status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api import api_keys
from api.auth import AdminDep
from api.auth import PepperDep
from api.dependencies import SessionDep
from api.idempotency import REPLAYED
from api.openapi import problems
from api.payments import OperatorPaymentActionDep
from api.routes.payments import ACTION_PROBLEMS
from schemas.payments import PaymentState
from schemas.risk_review import ReviewRequest
from schemas.tenants import ApiKeyOut
from schemas.tenants import AuditEventOut
from schemas.tenants import CreatedApiKey
from schemas.tenants import CreateTenantRequest
from schemas.tenants import RateLimit
from schemas.tenants import RateLimitOut
from schemas.tenants import RotateKeyRequest
from schemas.tenants import TenantOut

router = APIRouter(prefix="/v1/admin", tags=["admin"])

TenantPath = Annotated[str, Path(max_length=64)]
KeyPath = Annotated[str, Path(max_length=40)]
# Ids are SQL BIGINTs: a larger number is a 422, not an overflow in the database.
MAX_ID = 2**63 - 1


class KeyList(BaseModel):
    data: list[ApiKeyOut]


class AuditLog(BaseModel):
    data: list[AuditEventOut]
    next_after: int | None = None


@router.post("/tenants", status_code=status.HTTP_201_CREATED, responses=problems("tenant_exists"))
async def create_tenant(
    body: CreateTenantRequest, session: SessionDep, actor: AdminDep
) -> TenantOut:
    return await run_in_threadpool(api_keys.create_tenant, session, actor, body.name, body.id)


@router.post(
    "/tenants/{tenant_id}/keys",
    status_code=status.HTTP_201_CREATED,
    responses=problems("tenant_not_found"),
)
async def create_key(
    tenant_id: TenantPath, session: SessionDep, actor: AdminDep, pepper: PepperDep
) -> CreatedApiKey:
    """The secret is in this response only; paysaga keeps its keyed hash."""
    return await run_in_threadpool(api_keys.create_key, session, actor, tenant_id, pepper)


@router.get("/tenants/{tenant_id}/keys", responses=problems("tenant_not_found"))
async def list_keys(tenant_id: TenantPath, session: SessionDep, _: AdminDep) -> KeyList:
    return KeyList(data=await run_in_threadpool(api_keys.list_keys, session, tenant_id))


@router.post(
    "/tenants/{tenant_id}/keys/{key_id}/rotate",
    status_code=status.HTTP_201_CREATED,
    responses=problems("api_key_not_found", "api_key_inactive"),
)
async def rotate_key(
    tenant_id: TenantPath,
    key_id: KeyPath,
    session: SessionDep,
    actor: AdminDep,
    pepper: PepperDep,
    body: RotateKeyRequest | None = None,
) -> CreatedApiKey:
    """A new key; the old one works ``grace_period_seconds`` more (default 0), then expires."""
    grace = (body or RotateKeyRequest()).grace_period
    return await run_in_threadpool(
        api_keys.rotate_key, session, actor, tenant_id, key_id, grace, pepper
    )


@router.post("/tenants/{tenant_id}/keys/{key_id}/revoke", responses=problems("api_key_not_found"))
async def revoke_key(
    tenant_id: TenantPath, key_id: KeyPath, session: SessionDep, actor: AdminDep
) -> ApiKeyOut:
    """Refused from the next request on, in every API process."""
    return await run_in_threadpool(api_keys.revoke_key, session, actor, tenant_id, key_id)


@router.get("/tenants/{tenant_id}/rate-limit", responses=problems("tenant_not_found"))
async def get_rate_limit(tenant_id: TenantPath, request: Request, _: AdminDep) -> RateLimitOut:
    """The tenant's token bucket: its own, or the default from settings."""
    return await run_in_threadpool(request.app.state.rate_limiter.effective, tenant_id)


@router.put("/tenants/{tenant_id}/rate-limit", responses=problems("tenant_not_found"))
async def set_rate_limit(
    tenant_id: TenantPath, body: RateLimit, request: Request, actor: AdminDep
) -> RateLimitOut:
    """Applies at once in this API process, within 10 s in the others; audited."""
    limiter = request.app.state.rate_limiter
    return await run_in_threadpool(limiter.set_limit, actor, tenant_id, body)


@router.post(
    "/tenants/{tenant_id}/payments/{payment_id}/review",
    response_model=PaymentState,
    responses=problems(*ACTION_PROBLEMS),
)
async def review_tenant_payment(
    actor: AdminDep,
    payment: OperatorPaymentActionDep,
    session: SessionDep,
    body: ReviewRequest | None = None,
) -> Response:
    """A platform operator approves or rejects a tenant's payment held for review, as the
    tenant's own ``POST /v1/payments/{payment_id}/review`` does. The review's ``channel`` is
    ``operator`` and its ``reviewer`` the admin credential that acted (as the audit log names
    it); unlike a tenant's, the verdict trains the risk model (never for a sandbox payment).
    The decision is in the audit log too."""
    decided = await payment.review(body, actor.credential or actor.name, channel="operator")
    made = decided.status_code == status.HTTP_200_OK and REPLAYED not in decided.headers
    if made and body is not None:  # a decision is only ever made with a body
        tenant_id, payment_id = payment.sagas.tenant, payment.payment_id
        await run_in_threadpool(
            api_keys.audit_review, session, actor, tenant_id, payment_id, body.decision
        )
    return decided


@router.get("/audit")
async def audit(
    session: SessionDep,
    _: AdminDep,
    tenant_id: Annotated[str | None, Query(max_length=64)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditLog:
    """Append-only: who did what to which key, when; page with ``after=<last id>``."""
    events = await run_in_threadpool(api_keys.audit_events, session, tenant_id, after, limit)
    return AuditLog(data=events, next_after=events[-1].id if len(events) == limit else None)
