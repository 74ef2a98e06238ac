"""Each provider's circuit as every process sees it: the breaker's row (written by the
workers' circuit breaker, ``activities/circuit_breaker.py``) and the webhooks refused for a
bad signature (written by the API)."""

import re
from collections.abc import Sequence
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy import select

from schemas.provider_health import BreakerState
from schemas.provider_health import ProviderHealth
from schemas.store.database import as_utc
from schemas.store.tables import ProviderHealthRecord
from schemas.store.tables import WebhookRejectionRecord

_BREAKERS = ProviderHealthRecord.__table__.c
_REJECTIONS = WebhookRejectionRecord.__table__.c

# The breaker is shared by all tenants, so its last error is shown to every tenant: it keeps
# what kind of failure it was (provider, operation, status, code) and loses whose it was and
# where it went. In order: addresses first, so their parts are not read as ids.
_NOT_FOR_TENANTS = [
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE), "[address]"),
    (re.compile(r"[^\s@()<>,;'\"]+@[^\s@()<>,;'\"]+"), "[email]"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "[address]"),
    (re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b", re.IGNORECASE), "[id]"),
    # Workflow ids and idempotency keys: ``{tenant}:{kind}:{id}``, ``{payment id}:{step}``.
    (re.compile(r"\b[\w-]+(?::[\w-]+)+\b"), "[id]"),
    # Prefixed ids, ours (pay_, ten_, …) and the providers' (ch_, pi_, cus_, …).
    (re.compile(r"\b[A-Za-z]{2,6}_(?=[\w-]*\d)[\w-]+|\bten_\w+"), "[id]"),
    # Any other token that mixes letters and digits, and long numbers (order or charge ids).
    (re.compile(r"\b(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{8,}\b|\b\d{6,}\b"), "[id]"),
    # Host names: three labels or more, or two with a common top-level domain.
    (
        re.compile(
            r"\b[A-Za-z][\w-]*(?:\.[\w-]+)+\.[A-Za-z]{2,}\b"
            r"|\b[\w-]+\.(?:internal|local|lan|com|net|org|io)\b"
        ),
        "[address]",
    ),
]


def shared_error_text(message: str | None) -> str | None:
    """A provider's failure as any tenant may read it: no ids, keys or addresses in it."""
    if message is None:
        return None
    for pattern, placeholder in _NOT_FOR_TENANTS:
        message = pattern.sub(placeholder, message)
    return message


def breaker_state(opened_at: datetime | None, open_for: timedelta, now: datetime) -> BreakerState:
    if opened_at is None:
        return BreakerState.CLOSED
    return BreakerState.OPEN if now < opened_at + open_for else BreakerState.HALF_OPEN


def provider_health(
    engine: Engine, providers: Sequence[str], open_for: timedelta, now: datetime
) -> list[ProviderHealth]:
    """The circuits of ``providers``, in that order, read from the database (no cache)."""
    with engine.connect() as connection:
        rows = {
            row.provider: row
            for row in connection.execute(
                select(ProviderHealthRecord.__table__).where(_BREAKERS.provider.in_(providers))
            )
        }
        rejected = dict(
            connection.execute(
                select(_REJECTIONS.provider, _REJECTIONS.rejected).where(
                    _REJECTIONS.provider.in_(providers)
                )
            ).all()
        )
        connection.rollback()
    return [
        _health(name, rows.get(name), rejected.get(name, 0), open_for, now) for name in providers
    ]


def _health(
    provider: str, row, webhook_rejections: int, open_for: timedelta, now: datetime
) -> ProviderHealth:
    if row is None:
        return ProviderHealth(
            provider=provider,
            state=BreakerState.CLOSED,
            consecutive_failures=0,
            webhook_signature_failures=webhook_rejections,
        )
    opened_at = as_utc(row.opened_at)
    return ProviderHealth(
        provider=provider,
        state=breaker_state(opened_at, open_for, now),
        consecutive_failures=row.consecutive_failures,
        opened_at=opened_at,
        last_failure_at=as_utc(row.last_failure_at),
        last_error=shared_error_text(row.last_error),
        webhook_signature_failures=webhook_rejections,
    )
