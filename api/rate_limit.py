"""Per-tenant rate limits (OWASP API4): a token bucket per tenant, 429 with Retry-After.

Each API process keeps its own buckets, so N API processes admit up to N times a
tenant's rate. A tenant's own limit is read from SQL and cached for ``REFRESH`` seconds:
a change through the admin API applies at once in the process that took it and within
``REFRESH`` in the others.
"""

import math
import time
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session

from api.api_keys import audit
from api.api_keys import require_tenant
from api.problems import Problem
from schemas.store.tables import TenantRateLimit
from schemas.tenants import RateLimit
from schemas.tenants import RateLimitOut

REFRESH = 10.0


@dataclass
class TokenBucket:
    limit: RateLimit
    tokens: float
    updated: float

    def take(self, now: float) -> float:
        """Take a token: 0, or the seconds until one is there."""
        refill = (now - self.updated) * self.limit.per_second
        self.tokens = min(float(self.limit.burst), self.tokens + refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.limit.per_second


class RateLimiter:
    def __init__(self, engine: Engine, default: RateLimit) -> None:
        self._engine = engine
        self._default = default
        self._buckets: dict[str, TokenBucket] = {}
        self._loaded: dict[str, tuple[RateLimit, float]] = {}

    async def admit(self, tenant_id: str) -> None:
        """Raise 429 when the tenant has no token left."""
        now = time.monotonic()
        cached = self._loaded.get(tenant_id)
        if cached is None or now - cached[1] > REFRESH:
            limit = await run_in_threadpool(self._stored_limit, tenant_id) or self._default
            self._loaded[tenant_id] = (limit, now)
        else:
            limit = cached[0]
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            bucket = self._buckets[tenant_id] = TokenBucket(limit, float(limit.burst), now)
        elif bucket.limit != limit:
            bucket.limit = limit
            bucket.tokens = min(bucket.tokens, float(limit.burst))
        wait = bucket.take(now)
        if wait:
            raise Problem(
                "rate_limited",
                f"this tenant may send {limit.per_second:g} requests per second "
                f"(bursts of {limit.burst})",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    def _stored_limit(self, tenant_id: str) -> RateLimit | None:
        with Session(self._engine) as session:
            return _stored(session, tenant_id)

    def effective(self, tenant_id: str) -> RateLimitOut:
        with Session(self._engine) as session:
            require_tenant(session, tenant_id)
            stored = _stored(session, tenant_id)
        return RateLimitOut(
            **(stored or self._default).model_dump(),
            tenant_id=tenant_id,
            source="tenant" if stored else "default",
        )

    def set_limit(self, actor: str, tenant_id: str, limit: RateLimit) -> RateLimitOut:
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            require_tenant(session, tenant_id)
            row = session.get(TenantRateLimit, tenant_id) or TenantRateLimit(
                tenant_id=tenant_id, per_second=0, burst=0, updated_at=now
            )
            row.per_second, row.burst, row.updated_at = limit.per_second, limit.burst, now
            session.add(row)
            detail = f"{limit.per_second:g}/s, burst {limit.burst}"
            audit(session, actor, "tenant.rate_limit_set", tenant_id, detail=detail)
        self._loaded.pop(tenant_id, None)
        return RateLimitOut(**limit.model_dump(), tenant_id=tenant_id, source="tenant")


def _stored(session: Session, tenant_id: str) -> RateLimit | None:
    row = session.get(TenantRateLimit, tenant_id)
    return RateLimit(per_second=row.per_second, burst=row.burst) if row else None
