"""Who is calling: a tenant's bearer key, or the admin key for /v1/admin."""

import logging
import secrets
from typing import Annotated

from fastapi import Depends
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security import HTTPBearer

from api.api_keys import KEY_FORMAT
from api.api_keys import Actor
from api.api_keys import credential_fingerprint
from api.api_keys import key_id_of
from api.api_keys import pepper_of
from api.problems import Problem
from schemas.runtime.log_context import bind_log_context
from schemas.runtime.settings import Settings

log = logging.getLogger("paysaga.api.auth")

_bearer = HTTPBearer(auto_error=False, description="A tenant's secret key: `sk_…`")
_admin_bearer = HTTPBearer(
    auto_error=False, scheme_name="AdminKey", description="The admin key from settings"
)
Credentials = HTTPAuthorizationCredentials | None
# The admin key's bucket in the admin throttle (where a tenant's key has its prefix).
ADMIN_CREDENTIAL = "admin_key"


def _unauthorized(code: str) -> Problem:
    return Problem(code, headers={"WWW-Authenticate": 'Bearer realm="paysaga"'})


def check_auth_settings(settings: Settings) -> None:
    """Refuse to serve without auth outside the embedded stack; never turn it off silently."""
    if settings.auth_required:
        if settings.api_key_pepper is None and not settings.embedded:
            log.warning(
                "PAYSAGA_API_KEY_PEPPER is not set: API keys are stored under an empty pepper, "
                "so a copy of the database alone can confirm a leaked key"
            )
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
        presented = credentials.credentials
        match = KEY_FORMAT.fullmatch(presented)
        prefix = match["prefix"] if match else None
        address = request.client.host if request.client else None
        throttle = request.app.state.auth_failures
        throttle.check(prefix, address)  # before any database read or hashing
        tenant = await run_in_threadpool(request.app.state.keys.tenant_for, presented)
        if tenant is None:
            throttle.failed(prefix, address)
            raise _unauthorized("invalid_api_key")
    bind_log_context(tenant_id=tenant)  # every line of this request names its tenant
    await request.app.state.rate_limiter.admit(tenant)
    return tenant


async def require_admin(
    request: Request, credentials: Annotated[Credentials, Depends(_admin_bearer)]
) -> Actor:
    """The actor recorded in the audit log, with the credential it presented."""
    admin_key = request.app.state.settings.admin_key
    if admin_key is None:
        raise Problem("admin_api_disabled")
    # Checked before the compare, so the right key waits too once the credential or the
    # address is locked out: guessing gains nothing but 429s.
    address = request.client.host if request.client else None
    throttle = request.app.state.admin_auth_failures
    throttle.check(ADMIN_CREDENTIAL, address, code="too_many_failed_admin_authentications")
    presented = credentials.credentials.encode() if credentials else b""
    if not secrets.compare_digest(presented, admin_key.get_secret_value().encode()):
        throttle.failed(ADMIN_CREDENTIAL, address)
        raise _unauthorized("invalid_admin_key")
    return Actor("admin", credential_fingerprint("admin_key", admin_key.get_secret_value()))


async def key_pepper(request: Request) -> bytes:
    """What new API keys are stored under."""
    return pepper_of(request.app.state.settings)


TenantDep = Annotated[str, Depends(current_tenant)]
AdminDep = Annotated[Actor, Depends(require_admin)]
PepperDep = Annotated[bytes, Depends(key_pepper)]


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


def bearer_token(request: Request) -> str | None:
    """The credential of an ``Authorization: Bearer …`` header, if there is one."""
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None
