"""Who is calling: a tenant's bearer key, or the admin key for /v1/admin."""

import logging
import secrets
from typing import Annotated

from fastapi import Depends
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security import HTTPBearer

from api.api_keys import key_id_of
from api.problems import Problem
from schemas.runtime.log_context import bind_log_context
from schemas.runtime.settings import Settings

log = logging.getLogger("paysaga.api.auth")

_bearer = HTTPBearer(auto_error=False, description="A tenant's secret key: `sk_…`")
_admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminKey", description="The admin key from settings"
)
Credentials = HTTPAuthorizationCredentials | None


def _unauthorized(code: str) -> Problem:
    return Problem(code, headers={"WWW-Authenticate": 'Bearer realm="paysaga"'})


def check_auth_settings(settings: Settings) -> None:
    """Refuse to serve without auth outside the embedded stack; never turn it off silently."""
    if settings.auth_required:
        return
    if not settings.embedded:
        raise RuntimeError(
            "PAYSAGA_AUTH_REQUIRED=false is only allowed in the embedded development stack "
            "(paysaga dev --no-auth)"
        )
    log.warning(
        "AUTHENTICATION IS OFF (paysaga dev --no-auth): every request acts as tenant %s",
        settings.default_tenant,
    )


async def current_tenant(
    request: Request, credentials: Annotated[Credentials, Depends(_bearer)]
) -> str:
    """The calling tenant, once its key is checked and its rate limit admits the request."""
    settings: Settings = request.app.state.settings
    if not settings.auth_required:
        tenant = settings.default_tenant
    elif credentials is None:
        raise _unauthorized("missing_api_key")
    else:
        tenant = await run_in_threadpool(request.app.state.keys.tenant_for, credentials.credentials)
        if tenant is None:
            raise _unauthorized("invalid_api_key")
    bind_log_context(tenant_id=tenant)  # every line of this request names its tenant
    await request.app.state.rate_limiter.admit(tenant)
    return tenant


async def require_admin(
    request: Request, credentials: Annotated[Credentials, Depends(_admin_bearer)]
) -> str:
    """The actor recorded in the audit log."""
    admin_key = request.app.state.settings.admin_key
    if admin_key is None:
        raise Problem("admin_api_disabled")
    presented = credentials.credentials.encode() if credentials else b""
    if not secrets.compare_digest(presented, admin_key.get_secret_value().encode()):
        raise _unauthorized("invalid_admin_key")
    return "admin"


TenantDep = Annotated[str, Depends(current_tenant)]
AdminDep = Annotated[str, Depends(require_admin)]


async def current_credential(
    request: Request, tenant: TenantDep, credentials: Annotated[Credentials, Depends(_bearer)]
) -> str:
    """The credential that authenticated the request, ``api_key:<key id>``, for records of
    who acted (a review's reviewer); ``no_auth:<tenant>`` when auth is off."""
    if credentials is None:  # only when auth is off: current_tenant refused it otherwise
        return f"no_auth:{tenant}"
    engine = request.app.state.engine
    key_id = await run_in_threadpool(key_id_of, engine, credentials.credentials)
    if key_id is None:  # revoked in between: the request was already admitted
        raise _unauthorized("invalid_api_key")
    return f"api_key:{key_id}"


CredentialDep = Annotated[str, Depends(current_credential)]
