"""Each provider's circuit as every process sees it: the breaker's row (written by the
workers' circuit breaker, ``activities/circuit_breaker.py``) and the webhooks refused for a
bad signature (written by the API)."""

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
        last_error=row.last_error,
        webhook_signature_failures=webhook_rejections,
    )
