"""Contracts of the admin API: tenants, their API keys, the audit log."""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TenantId = Annotated[str, StringConstraints(pattern=r"^ten_[a-z0-9_]{1,40}$")]
KeyId = Annotated[str, StringConstraints(pattern=r"^key_[0-9a-f]{24}$")]


class CreateTenantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    # Optional stable id (e.g. the development tenant); generated when absent.
    id: TenantId | None = None


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class RotateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # How long the old key keeps working after the rotation (ISO 8601, e.g. PT1H).
    grace_period: Annotated[timedelta, Field(ge=timedelta(0), le=timedelta(days=30))] = timedelta(0)


class ApiKeyOut(BaseModel):
    """A key as listed: never its secret or its hash."""

    id: str
    tenant_id: str
    prefix: str
    status: Literal["active", "expiring", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None


class CreatedApiKey(ApiKeyOut):
    """Returned once, at creation or rotation: the only time the secret is shown."""

    secret: str


class AuditEventOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    tenant_id: str
    key_id: str | None = None
    detail: str | None = None
