"""Per-tenant rate limits (OWASP API4): a token bucket per tenant, 429 with Retry-After;
and the throttle of failed authentications, per key prefix and per client address.

Each API process keeps its own buckets, so N API processes admit up to N times a
tenant's rate. A tenant's own limit is read from SQL and cached for ``REFRESH`` seconds:
a change through the admin API applies at once in the process that took it and within
``REFRESH`` in the others.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine
from sqlmodel import Session

from api.api_keys import Actor
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
        wait = self.wait(now)
        if not wait:
            self.tokens -= 1
        return wait

    def wait(self, now: float) -> float:
        """The seconds until a token is there, without taking one: 0 when one is."""
        refill = (now - self.updated) * self.limit.per_second
        self.tokens = min(float(self.limit.burst), self.tokens + refill)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.limit.per_second


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

    def set_limit(self, actor: Actor | str, tenant_id: str, limit: RateLimit) -> RateLimitOut:
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


class FailedAuthThrottle:
    """Failed authentications per key prefix and per client address (OWASP API2).

    Checked before the key is read or hashed, so a flood of forged keys is refused at the
    cost of a dictionary lookup; only failures take tokens, so a tenant's good key is never
    throttled by its own success. The client address is the connection's peer: behind a
    proxy, every client shares the proxy's bucket unless the server is told to trust its
    forwarded headers (uvicorn --forwarded-allow-ips).
    """

    # Buckets beyond this are dropped once they are full again, so random prefixes cannot
    # grow the dictionaries without bound.
    MAX_BUCKETS = 10_000

    def __init__(
        self,
        per_prefix: int,
        per_address: int,
        refill_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {
            "prefix": RateLimit(per_second=1 / refill_seconds, burst=per_prefix),
            "address": RateLimit(per_second=1 / refill_seconds, burst=per_address),
        }
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        # Seconds, monotonic; replaceable so tests move time instead of sleeping.
        self.clock = clock

    def check(
        self,
        prefix: str | None,
        address: str | None,
        code: str = "too_many_failed_authentications",
    ) -> None:
        """Raise 429 ``code`` when the prefix or the address has no failure left."""
        now = self.clock()
        for subject in self._subjects(prefix, address):
            bucket = self._buckets.get(subject)
            if bucket is None:
                continue
            wait = bucket.wait(now)
            if wait:
                raise Problem(
                    code,
                    "too many failed attempts "
                    + ("with this key" if subject[0] == "prefix" else "from this address"),
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )

    def failed(self, prefix: str | None, address: str | None) -> None:
        now = self.clock()
        if len(self._buckets) > self.MAX_BUCKETS:
            self._forget_full(now)
        for subject in self._subjects(prefix, address):
            limit = self._limits[subject[0]]
            bucket = self._buckets.setdefault(subject, TokenBucket(limit, float(limit.burst), now))
            bucket.take(now)

    @staticmethod
    def _subjects(prefix: str | None, address: str | None) -> list[tuple[str, str]]:
        subjects = [("prefix", prefix)] if prefix else []
        return subjects + ([("address", address)] if address else [])

    def _forget_full(self, now: float) -> None:
        for subject, bucket in list(self._buckets.items()):
            if bucket.wait(now) == 0 and bucket.tokens >= bucket.limit.burst:
                del self._buckets[subject]


class ReportBuilds:
    """New reconciliation report builds per tenant (OWASP API4): each pages through a
    provider's day, so a tenant gets ``per_hour`` of them (a burst, refilled over the hour);
    what the store can answer costs none. Per API process, like the tenant rate limit."""

    def __init__(self, per_hour: int) -> None:
        self._limit = RateLimit(per_second=per_hour / 3600, burst=per_hour)
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, tenant_id: str) -> None:
        """Take a build, or raise 429 ``too_many_reconciliation_reports``."""
        now = time.monotonic()
        bucket = self._buckets.setdefault(
            tenant_id, TokenBucket(self._limit, float(self._limit.burst), now)
        )
        wait = bucket.take(now)
        if wait:
            raise Problem(
                "too_many_reconciliation_reports",
                f"this tenant may have {self._limit.burst} reconciliation reports built per "
                "hour; a day's report built recently is answered from the store",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
