"""CircuitBreaker against SQLite and PostgreSQL (``database_engine``).

Several ``CircuitBreaker`` instances, each on its own engine, stand for several workers
sharing one database. Time is an injected clock: nothing sleeps.
"""

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

from activities.circuit_breaker import Admission
from activities.circuit_breaker import CircuitBreaker
from activities.circuit_breaker import is_provider_failure
from activities.circuit_breaker import refusal_error
from activities.circuit_breaker import short_error
from schemas import errors
from schemas.provider_health import BreakerState
from schemas.store.database import make_engine
from schemas.store.tables import ProviderHealthRecord
from schemas.store.tables import WebhookRejectionRecord

PROVIDER = "sandbox"
THRESHOLD = 3
OPEN_FOR = timedelta(seconds=30)


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workers(database_engine: Engine, clock: FakeClock) -> Iterator:
    """``workers(n)``: n breakers, each with its own engine on the test's database."""
    engines: list[Engine] = []
    url = database_engine.url.render_as_string(hide_password=False)

    def make(count: int, threshold: int = THRESHOLD) -> list[CircuitBreaker]:
        made = [make_engine(url) for _ in range(count)]
        engines.extend(made)
        return [CircuitBreaker(engine, threshold, OPEN_FOR, clock=clock) for engine in made]

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def breaker(database_engine: Engine, clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(database_engine, THRESHOLD, OPEN_FOR, clock=clock)


def stored(engine: Engine, provider: str = PROVIDER):
    with engine.connect() as connection:
        table = ProviderHealthRecord.__table__
        return connection.execute(select(table).where(table.c.provider == provider)).one_or_none()


def fail(breaker: CircuitBreaker, times: int, provider: str = PROVIDER) -> BreakerState:
    state = BreakerState.CLOSED
    for attempt in range(times):
        state = breaker.record_failure(provider, f"gateway returned 503 ({attempt})")
    return state


def open_circuit(breaker: CircuitBreaker) -> None:
    assert fail(breaker, THRESHOLD) is BreakerState.OPEN


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Every SQL statement the engine sends meanwhile."""
    sent: list[str] = []

    def count(_connection, _cursor, statement, *_args) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_provider_never_seen_is_closed(breaker):
    assert breaker.admit(PROVIDER) == Admission(True, BreakerState.CLOSED)


def test_the_circuit_opens_after_threshold_consecutive_failures(breaker, database_engine):
    assert fail(breaker, THRESHOLD - 1) is BreakerState.CLOSED
    assert breaker.admit(PROVIDER).admitted
    assert breaker.record_failure(PROVIDER, "timed out") is BreakerState.OPEN
    row = stored(database_engine)
    assert row.consecutive_failures == THRESHOLD
    assert row.opened_at is not None
    assert row.last_error == "timed out"


def test_a_success_resets_the_count(breaker, database_engine):
    fail(breaker, THRESHOLD - 1)
    breaker.record_success(PROVIDER)
    assert stored(database_engine).consecutive_failures == 0
    assert fail(breaker, THRESHOLD - 1) is BreakerState.CLOSED
    assert breaker.admit(PROVIDER).admitted


def test_an_open_circuit_refuses_with_retry_after(breaker, clock):
    open_circuit(breaker)
    clock.advance(timedelta(seconds=10))
    refused = breaker.admit(PROVIDER)
    assert refused == Admission(False, BreakerState.OPEN, retry_after=20.0)


def test_after_open_for_one_probe_goes_through_and_the_others_wait(breaker, clock):
    open_circuit(breaker)
    clock.advance(OPEN_FOR)
    assert breaker.admit(PROVIDER) == Admission(True, BreakerState.HALF_OPEN, probe=True)
    waiting = breaker.admit(PROVIDER)
    assert not waiting.admitted and waiting.state is BreakerState.HALF_OPEN
    assert 0 < waiting.retry_after <= OPEN_FOR.total_seconds()


def test_exactly_one_of_many_concurrent_callers_wins_the_probe(workers, clock):
    breakers = workers(4)
    open_circuit(breakers[0])
    clock.advance(OPEN_FOR + timedelta(seconds=1))
    callers = 24
    start = threading.Barrier(callers)

    def call(index: int) -> Admission:
        start.wait()
        return breakers[index % len(breakers)].admit(PROVIDER)

    with ThreadPoolExecutor(callers) as pool:
        answers = list(pool.map(call, range(callers)))

    probes = [answer for answer in answers if answer.admitted]
    assert probes == [Admission(True, BreakerState.HALF_OPEN, probe=True)]
    assert all(answer.state is BreakerState.HALF_OPEN for answer in answers)


def test_a_failed_probe_opens_the_circuit_again(breaker, database_engine, clock):
    open_circuit(breaker)
    clock.advance(OPEN_FOR)
    assert breaker.admit(PROVIDER).probe
    assert breaker.record_failure(PROVIDER, "still down") is BreakerState.OPEN
    row = stored(database_engine)
    assert row.probe_started_at is None
    assert row.consecutive_failures == THRESHOLD + 1
    # Open for a whole period again, counted from the probe's failure.
    clock.advance(OPEN_FOR - timedelta(seconds=1))
    assert breaker.admit(PROVIDER) == Admission(False, BreakerState.OPEN, retry_after=1.0)
    clock.advance(timedelta(seconds=1))
    assert breaker.admit(PROVIDER).probe


def test_a_successful_probe_closes_the_circuit(workers, database_engine, clock):
    prober, other = workers(2)
    open_circuit(prober)
    clock.advance(OPEN_FOR)
    assert prober.admit(PROVIDER).probe
    assert not other.admit(PROVIDER).admitted
    prober.record_success(PROVIDER)
    row = stored(database_engine)
    assert (row.consecutive_failures, row.opened_at, row.probe_started_at) == (0, None, None)
    assert prober.admit(PROVIDER) == Admission(True, BreakerState.CLOSED)
    clock.advance(timedelta(seconds=1))  # the other worker's cached refusal has expired
    assert other.admit(PROVIDER) == Admission(True, BreakerState.CLOSED)


def test_a_probe_that_never_reports_can_be_claimed_again(workers, clock):
    lost, other = workers(2)
    open_circuit(lost)
    clock.advance(OPEN_FOR)
    assert lost.admit(PROVIDER).probe  # its worker dies: no success, no failure
    clock.advance(OPEN_FOR - timedelta(seconds=1))
    assert not other.admit(PROVIDER).admitted
    clock.advance(timedelta(seconds=1))
    assert other.admit(PROVIDER).probe


def test_two_workers_share_the_circuit(workers):
    first, second = workers(2)
    fail(first, THRESHOLD - 1)
    assert second.record_failure(PROVIDER, "503") is BreakerState.OPEN
    assert first.admit(PROVIDER).state is BreakerState.OPEN


def test_another_workers_change_is_seen_within_the_cache_ttl(workers, clock):
    first, second = workers(2)
    assert second.admit(PROVIDER).admitted  # second now holds "closed" for up to 1 s
    open_circuit(first)
    assert second.admit(PROVIDER).admitted  # the documented lag
    clock.advance(timedelta(seconds=1))
    assert second.admit(PROVIDER).state is BreakerState.OPEN


def test_concurrent_failures_are_all_counted(workers, database_engine):
    breakers = workers(4, threshold=1000)
    threads, per_thread = 8, 10
    start = threading.Barrier(threads)

    def record(index: int) -> None:
        start.wait()
        for attempt in range(per_thread):
            breakers[index % len(breakers)].record_failure("paypal", f"503 #{attempt}")

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(record, range(threads)))
    assert stored(database_engine, "paypal").consecutive_failures == threads * per_thread


def test_a_success_on_a_healthy_provider_sends_no_sql(breaker, database_engine):
    assert breaker.admit(PROVIDER).admitted  # reads the row once, then keeps it 1 s
    with statements(database_engine) as sent:
        for _ in range(50):
            assert breaker.admit(PROVIDER).admitted
            breaker.record_success(PROVIDER)
    assert sent == []


def test_the_cache_answers_on_the_event_loop_only_what_it_knows(breaker, clock):
    assert breaker.cached_admission(PROVIDER) is None  # never read: ask the database
    assert not breaker.success_is_known(PROVIDER)
    assert breaker.admit(PROVIDER).admitted
    assert breaker.cached_admission(PROVIDER) == breaker.admit(PROVIDER)
    assert breaker.success_is_known(PROVIDER)
    fail(breaker, 1)  # failing, not yet open: another worker's failures may open it
    assert breaker.cached_admission(PROVIDER) is None
    assert not breaker.success_is_known(PROVIDER)
    fail(breaker, THRESHOLD - 1)
    refused = breaker.cached_admission(PROVIDER)
    assert refused is not None and not refused.admitted
    clock.advance(OPEN_FOR)  # the probe is claimed in the database, never from the cache
    assert breaker.cached_admission(PROVIDER) is None


def test_a_success_after_the_ttl_writes_nothing_when_already_healthy(
    breaker, database_engine, clock
):
    fail(breaker, 1)
    breaker.record_success(PROVIDER)
    clock.advance(timedelta(seconds=5))
    with statements(database_engine) as sent:
        breaker.record_success(PROVIDER)
        breaker.record_success(PROVIDER)
    writes = [s for s in sent if s.lstrip().upper().startswith("UPDATE")]
    assert len(writes) == 1  # a conditional UPDATE that matched nothing, then the cache


def test_a_failure_always_writes(breaker, database_engine):
    assert breaker.admit(PROVIDER).admitted
    with statements(database_engine) as sent:
        breaker.record_failure(PROVIDER, "503")
    assert any("INSERT INTO provider_health" in statement for statement in sent)


def test_snapshot_reports_each_provider_in_order(breaker, database_engine, clock):
    open_circuit(breaker)
    fail(breaker, 1, provider="paypal")
    with database_engine.begin() as connection:
        connection.execute(
            WebhookRejectionRecord.__table__.insert().values(
                provider="paypal", rejected=4, last_rejected_at=clock.now
            )
        )
    health = breaker.snapshot(["sandbox", "paypal", "stripe"])
    assert [(h.provider, h.state, h.consecutive_failures) for h in health] == [
        ("sandbox", BreakerState.OPEN, THRESHOLD),
        ("paypal", BreakerState.CLOSED, 1),
        ("stripe", BreakerState.CLOSED, 0),
    ]
    assert health[0].opened_at == clock.now
    assert health[1].webhook_signature_failures == 4
    assert health[1].last_failure_at == clock.now
    clock.advance(OPEN_FOR)
    assert breaker.snapshot(["sandbox"])[0].state is BreakerState.HALF_OPEN


def test_last_error_is_short_and_masks_secret_looking_text(breaker, database_engine):
    key = "sk_test_" + "a" * 24
    breaker.record_failure(PROVIDER, f"401 from gateway: Bearer {key} card 4242 4242 4242 4242")
    breaker.record_failure(PROVIDER, "x" * 2000)
    assert len(stored(database_engine).last_error) == 500
    masked = short_error(f"401: Bearer {key}; key {key}; card 4242 4242 4242 4242\nend")
    assert "sk_test" not in masked and "4242" not in masked and "\n" not in masked


def test_refusal_error_is_unavailable_and_waits_for_the_circuit():
    error = refusal_error("sandbox", Admission(False, BreakerState.OPEN, retry_after=12.5))
    assert error.type == errors.UNAVAILABLE
    assert not error.non_retryable
    assert error.next_retry_delay == timedelta(seconds=12.5)
    assert is_provider_failure(ApplicationError("down", type=errors.OUTCOME_UNKNOWN))
    assert not is_provider_failure(ApplicationError("no", type=errors.DECLINED))
