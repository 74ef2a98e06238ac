"""Contracts of the admin API: tenants, their API keys, the audit log."""

from datetime import datetime
from datetime import timedelta
from typing import Annotated
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictFloat
from pydantic import StrictInt
from pydantic import StringConstraints

from schemas.card_data import free_text

MAX_GRACE_SECONDS = 30 * 24 * 3600
TenantId = Annotated[str, StringConstraints(pattern=r"^ten_[a-z0-9_]{1,40}$")]
KeyId = Annotated[str, StringConstraints(pattern=r"^key_[0-9a-f]{24}$")]


class CreateTenantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Something besides whitespace (which is stripped): the schema says so too.
    name: free_text(200, min_length=1, strip_whitespace=True, pattern=r"\S")
    # Optional stable id (e.g. the development tenant); generated when absent.
    id: TenantId | None = None


class TenantOut(BaseModel):
    id: str
    name: str
    created_at: datetime


class RotateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Seconds the old key keeps working after the rotation (at most 30 days); an integer,
    # so the schema states the bound exactly.
    grace_period_seconds: Annotated[StrictInt, Field(ge=0, le=MAX_GRACE_SECONDS)] = 0

    @property
    def grace_period(self) -> timedelta:
        return timedelta(seconds=self.grace_period_seconds)


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
    credential: str | None = None
    action: str
    tenant_id: str
    key_id: str | None = None
    detail: str | None = None


class RateLimit(BaseModel):
    """A token bucket: ``burst`` requests at once, refilled at ``per_second``."""

    model_config = ConfigDict(extra="forbid")

    per_second: Annotated[StrictFloat, Field(gt=0, le=100_000)]
    burst: Annotated[StrictInt, Field(ge=1, le=1_000_000)]


class RateLimitOut(RateLimit):
    tenant_id: str
    source: Literal["tenant", "default"]


class TenantQuotas(BaseModel):
    """How many of each object that is created without moving money one tenant may hold
    (``PAYSAGA_QUOTAS__CUSTOMERS=…``): nothing else bounds them, and every row counts,
    detached or failed ones included, since they all take space. The same for every tenant."""

    model_config = ConfigDict(extra="forbid")

    rule_set_versions: Annotated[StrictInt, Field(ge=1)] = 1_000
    customers: Annotated[StrictInt, Field(ge=1)] = 100_000
    saved_payment_methods: Annotated[StrictInt, Field(ge=1)] = 200_000
    plans: Annotated[StrictInt, Field(ge=1)] = 1_000
    connected_accounts: Annotated[StrictInt, Field(ge=1)] = 10_000
    invoices: Annotated[StrictInt, Field(ge=1)] = 500_000
    # Every endpoint gets a delivery saga per event it subscribes to: a few are plenty.
    webhook_endpoints: Annotated[StrictInt, Field(ge=1)] = 16


QuotaKind = Literal[
    "rule_set_versions",
    "customers",
    "saved_payment_methods",
    "plans",
    "connected_accounts",
    "invoices",
    "webhook_endpoints",
]
