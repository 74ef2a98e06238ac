"""Per-provider circuit breaker, shared by every worker through the ``provider_health`` row.

CLOSED: calls go through. ``failure_threshold`` consecutive failures (Unavailable or an
unknown outcome) open the circuit: OPEN refuses every call for ``open_for``. Then HALF_OPEN:
exactly one caller, across all workers, claims the probe with a conditional UPDATE; its
success closes the circuit, its failure opens it again. A probe that never reports (its
worker died) may be claimed again once ``open_for`` has passed since it started.

The state lives in the database so that every worker sees one circuit, but reading it on
every provider call would put a SQL round trip (on SQLite, the write lock) on the hot path.
So each breaker keeps the last state it read or wrote for ``cache_ttl`` (1 s): a healthy
provider costs one SELECT per provider per second per worker, and a success on a healthy
provider writes nothing. The price: a circuit opened (or closed) by another worker is seen
here up to ``cache_ttl`` late (so a worker may send calls to a provider for up to 1 s after
another opened its circuit), and a success in that window does not reset the other
workers' count, so a circuit may open a little before ``failure_threshold`` strictly
consecutive failures. A failure always writes, and the worker that writes it sees the new
state at once. While a provider has failures but is not open, ``admit`` reads the row on
every call: that window is short, and it is when another worker's failure matters.

``admit`` and the ``record_*`` methods may run SQL synchronously: call them from a thread
(``asyncio.to_thread``), like the ledger activities. ``cached_admission`` and
``success_is_known`` never do, so a caller on the event loop asks them first and hops to a
thread only when they cannot answer (a thread hop costs more than the answer).
"""

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy import case
from sqlalchemy import literal
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from temporalio.exceptions import ApplicationError

from activities.providers.errors import RateLimited
from schemas import errors
from schemas.provider_health import BreakerState
from schemas.provider_health import ProviderHealth
from schemas.runtime.settings import Settings
from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.provider_health import breaker_state
from schemas.store.provider_health import provider_health
from schemas.store.tables import ProviderHealthRecord

Clock = Callable[[], datetime]
DEFAULT_CACHE_TTL = timedelta(seconds=1)
# A probe usually answers within the provider timeout: asking again much sooner than this
# mostly finds it still in flight, much later leaves payments waiting after a recovery.
PROBE_RETRY_AFTER_SECONDS = 5.0
LAST_ERROR_MAX_CHARS = 500
# Only these say the provider is unwell; a decline or an invalid request is an answer.
FAILURE_TYPES = frozenset({errors.UNAVAILABLE, errors.OUTCOME_UNKNOWN})

_TABLE = ProviderHealthRecord.__table__
_COLUMNS = _TABLE.c
# Provider messages are ours (ApplicationError), but an SDK may echo a request back:
# keys, bearer tokens and card-number-like digit runs are masked before they are stored.
_SECRET_LIKE = re.compile(
    r"(?i)\bbearer\s+\S+|\b(?:sk|rk|pk|whsec)_\w+|\b(?:\d[ -]?){12,18}\d\b|"
    r"\b(?:client_secret|password|authorization)\s*[=:]\s*\S+"
)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Admission:
    """Whether a provider call may go out now. ``probe``: this call is the half-open probe,
    whose outcome decides the circuit. ``retry_after``: seconds until asking again is
    useful, when refused."""

    admitted: bool
    state: BreakerState
    probe: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class _Seen:
    """The breaker columns of a provider's row as this process last read or wrote them."""

    consecutive_failures: int
    opened_at: datetime | None
    probe_started_at: datetime | None
    seen_at: datetime

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0 and self.opened_at is None


class CircuitBreaker:
    def __init__(
        self,
        engine: Engine,
        failure_threshold: int,
        open_for: timedelta,
        clock: Clock = utc_now,
        cache_ttl: timedelta = DEFAULT_CACHE_TTL,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self._engine = engine
        self._threshold = failure_threshold
        self._open_for = open_for
        self._clock = clock
        self._cache_ttl = cache_ttl
        # provider -> last state seen; plain dict reads and writes are atomic across the
        # worker's threads, and a stale entry only lives until its TTL.
        self._seen: dict[str, _Seen] = {}

    @classmethod
    def from_settings(cls, engine: Engine, settings: Settings) -> "CircuitBreaker":
        return cls(engine, settings.breaker_failure_threshold, settings.breaker_open_for)

    # ------------------------------------------------------------------ hot path

    def admit(self, provider: str) -> Admission:
        now = self._clock()
        seen = self._cached(provider, now)
        # A provider that has started failing, but not yet enough to open, is read afresh:
        # the failures that open it may be another worker's.
        if seen is None or (seen.consecutive_failures and seen.opened_at is None):
            seen = self._read(provider, now)
        decided = self._decide(seen, now)
        if decided is not None:
            return decided
        if self._claim_probe(provider, now):
            self._seen[provider] = _Seen(
                seen.consecutive_failures, seen.opened_at, now, seen_at=now
            )
            return Admission(True, BreakerState.HALF_OPEN, probe=True)
        # Another caller won the probe, or its answer already closed or re-opened the circuit.
        seen = self._read(provider, now)
        return self._decide(seen, now) or self._probe_in_flight(now, now)

    def cached_admission(self, provider: str) -> Admission | None:
        """``admit``'s answer when the state cached within ``cache_ttl`` gives it by itself
        (closed and healthy, or open); None when ``admit`` must ask the database."""
        now = self._clock()
        seen = self._cached(provider, now)
        if seen is None or (seen.consecutive_failures and seen.opened_at is None):
            return None
        return self._decide(seen, now)

    def success_is_known(self, provider: str) -> bool:
        """Whether ``record_success`` would write nothing: the provider is cached healthy."""
        seen = self._cached(provider, self._clock())
        return seen is not None and seen.healthy

    def record_success(self, provider: str) -> None:
        now = self._clock()
        seen = self._cached(provider, now)
        if seen is not None and seen.healthy:
            return
        # Conditional: a provider already healthy in the database is not written either.
        statement = (
            update(_TABLE)
            .where(
                _COLUMNS.provider == provider,
                or_(
                    _COLUMNS.consecutive_failures != 0,
                    _COLUMNS.opened_at.is_not(None),
                    _COLUMNS.probe_started_at.is_not(None),
                ),
            )
            .values(consecutive_failures=0, opened_at=None, probe_started_at=None, updated_at=now)
        )
        with self._engine.begin() as connection:
            connection.execute(statement)
        self._seen[provider] = _Seen(0, None, None, seen_at=now)

    def record_failure(self, provider: str, error: str) -> BreakerState:
        """Count a failed call (Unavailable, OutcomeUnknown); returns the state it leaves.

        One upsert, so concurrent failures from any number of workers are all counted.
        """
        now = self._clock()
        with self._engine.begin() as connection:
            upsert = self._failure_upsert(connection.dialect.name, provider, error, now)
            row = connection.execute(upsert).one()
        seen = _Seen(row.consecutive_failures, as_utc(row.opened_at), None, seen_at=now)
        self._seen[provider] = seen
        return self._state(seen.opened_at, now)

    # ------------------------------------------------------------------ reporting

    def snapshot(self, providers: Sequence[str]) -> list[ProviderHealth]:
        """The circuits of ``providers``, in that order, read from the database (no cache)."""
        return provider_health(self._engine, providers, self._open_for, self._clock())

    # ------------------------------------------------------------------ internals

    def _cached(self, provider: str, now: datetime) -> _Seen | None:
        seen = self._seen.get(provider)
        if seen is None or not timedelta(0) <= now - seen.seen_at < self._cache_ttl:
            return None
        return seen

    def _read(self, provider: str, now: datetime) -> _Seen:
        statement = select(
            _COLUMNS.consecutive_failures, _COLUMNS.opened_at, _COLUMNS.probe_started_at
        ).where(_COLUMNS.provider == provider)
        with self._engine.connect() as connection:
            row = connection.execute(statement).one_or_none()
            connection.rollback()
        if row is None:
            seen = _Seen(0, None, None, seen_at=now)
        else:
            seen = _Seen(
                row.consecutive_failures,
                as_utc(row.opened_at),
                as_utc(row.probe_started_at),
                seen_at=now,
            )
        self._seen[provider] = seen
        return seen

    def _decide(self, seen: _Seen, now: datetime) -> Admission | None:
        """The answer the row gives by itself; None when the caller may try to claim the
        probe."""
        if seen.opened_at is None:
            return Admission(True, BreakerState.CLOSED)
        reopens_at = seen.opened_at + self._open_for
        if now < reopens_at:
            return Admission(
                False, BreakerState.OPEN, retry_after=(reopens_at - now).total_seconds()
            )
        if seen.probe_started_at is not None and now < seen.probe_started_at + self._open_for:
            return self._probe_in_flight(seen.probe_started_at, now)
        return None

    def _probe_in_flight(self, probe_started_at: datetime, now: datetime) -> Admission:
        abandoned_at = probe_started_at + self._open_for
        wait = min(max((abandoned_at - now).total_seconds(), 0.0), PROBE_RETRY_AFTER_SECONDS)
        return Admission(False, BreakerState.HALF_OPEN, retry_after=wait)

    def _claim_probe(self, provider: str, now: datetime) -> bool:
        """Atomic across workers: only the UPDATE that still finds no live probe matches."""
        cutoff = now - self._open_for
        statement = (
            update(_TABLE)
            .where(
                _COLUMNS.provider == provider,
                _COLUMNS.opened_at.is_not(None),
                _COLUMNS.opened_at <= cutoff,
                or_(_COLUMNS.probe_started_at.is_(None), _COLUMNS.probe_started_at <= cutoff),
            )
            .values(probe_started_at=now, updated_at=now)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount == 1

    def _failure_upsert(self, dialect_name: str, provider: str, error: str, now: datetime):
        at = literal(now, _COLUMNS.opened_at.type)
        last_error = short_error(error)
        failures = _COLUMNS.consecutive_failures + 1
        statement = dialect_insert(dialect_name, _TABLE).values(
            provider=provider,
            consecutive_failures=1,
            opened_at=now if self._threshold <= 1 else None,
            probe_started_at=None,
            last_failure_at=now,
            last_error=last_error,
            updated_at=now,
        )
        # Every SET expression sees the row as it was before this failure.
        opened_at = case(
            (_COLUMNS.probe_started_at.is_not(None), at),  # the probe failed: open again
            # Already open: a call admitted before it opened, failing late, does not extend it.
            (_COLUMNS.opened_at.is_not(None), _COLUMNS.opened_at),
            (failures >= self._threshold, at),
            else_=None,
        )
        return statement.on_conflict_do_update(
            index_elements=[_COLUMNS.provider],
            set_={
                "consecutive_failures": failures,
                "opened_at": opened_at,
                "probe_started_at": None,
                "last_failure_at": at,
                "last_error": last_error,
                "updated_at": at,
            },
        ).returning(_COLUMNS.consecutive_failures, _COLUMNS.opened_at)

    def _state(self, opened_at: datetime | None, now: datetime) -> BreakerState:
        return breaker_state(opened_at, self._open_for, now)


def short_error(message: str) -> str:
    """What is kept of a failure's message: secret-looking parts masked, one line, short."""
    masked = _SECRET_LIKE.sub("[redacted]", message)
    return " ".join(masked.split())[:LAST_ERROR_MAX_CHARS]


def is_provider_failure(error: BaseException) -> bool:
    """Whether an error from a provider call counts against its circuit."""
    if isinstance(error, RateLimited):  # backpressure (429), not ill health
        return False
    return isinstance(error, ApplicationError) and error.type in FAILURE_TYPES


def refusal_error(provider: str, admission: Admission) -> ApplicationError:
    """The activity error for a refused call: Unavailable (nothing was sent, so a retry or
    another provider is safe), retried when the circuit may admit a call again. A refusal
    is not a failure: do not record it."""
    retry_after = admission.retry_after or 0.0
    return ApplicationError(
        f"provider {provider!r} is unavailable: its circuit is {admission.state.value}",
        {"provider": provider, "state": admission.state.value, "retry_after": retry_after},
        type=errors.UNAVAILABLE,
        next_retry_delay=timedelta(seconds=max(retry_after, 1.0)),
    )
