"""LedgerActivities.record_payment called directly against SQLite and PostgreSQL.

Every test runs on both backends (``database_engine``), and the ledger invariants are
asserted after each one (see conftest.py).
"""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import text
from sqlmodel import Session
from sqlmodel import select
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerActivities
from schemas import errors
from schemas.ledger import JournalEntryDraft
from schemas.ledger import PostingLine
from schemas.ledger import RecordPaymentCommand
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.payments import StepRecord
from schemas.store.database import make_engine
from schemas.store.ledger_reports import LedgerViolation
from schemas.store.ledger_reports import balances
from schemas.store.ledger_reports import empty_entries
from schemas.store.ledger_reports import unbalanced_entries
from schemas.store.tables import JournalEntry
from schemas.store.tables import LedgerAccount
from schemas.store.tables import PaymentRecord
from schemas.store.tables import Posting
from tests.support.ledger import assert_ledger_invariants
from tests.support.ledger import journal_entries_for
from tests.support.payments import processing_state

TENANT = "ten_ledger"
CLEARING = "provider_clearing:sandbox"
MERCHANT = "merchant_balance"


def payment_state(**overrides) -> PaymentState:
    return processing_state(**({"tenant_id": TENANT, "amount": 2500} | overrides))


def captured(state: PaymentState, amount: int | None = None) -> PaymentState:
    """The state after a successful capture, a little later than ``state``."""
    amount = state.amount if amount is None else amount
    later = state.updated_at + timedelta(seconds=2)
    return state.model_copy(
        update={
            "status": PaymentStatus.SUCCEEDED,
            "authorized_amount": amount,
            "captured_amount": amount,
            "provider_reference": "ch_123",
            "updated_at": later,
            "steps": [
                StepRecord(
                    name="capture_payment",
                    outcome="succeeded",
                    started_at=state.updated_at,
                    finished_at=later,
                )
            ],
        }
    )


def entry(key: str, *lines: tuple[str, int, str], kind: str = "capture") -> JournalEntryDraft:
    return JournalEntryDraft(
        idempotency_key=key,
        kind=kind,
        description=f"{kind} {key}",
        lines=[PostingLine(account=a, amount=x, currency=c) for a, x, c in lines],
    )


def capture_entry(payment_id: str, amount: int, currency: str = "USD") -> JournalEntryDraft:
    """What the payment workflow posts after a capture: +X clearing, -X merchant balance."""
    key = f"{payment_id}:capture"
    return entry(key, (CLEARING, amount, currency), (MERCHANT, -amount, currency))


def balance_map(engine: Engine, tenant_id: str = TENANT) -> dict[tuple[str, str], int]:
    with Session(engine) as session:
        return {(b.account, b.currency): b.balance for b in balances(session, tenant_id)}


def row_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            model.__tablename__: session.exec(select(func.count()).select_from(model)).one()
            for model in (PaymentRecord, JournalEntry, Posting, LedgerAccount)
        }


def read_model_row(engine: Engine, payment_id: str) -> PaymentRecord | None:
    with Session(engine) as session:
        return session.get(PaymentRecord, payment_id)


THREADS = 8
PAYMENTS_PER_THREAD = 25


def _run_threads(worker, barriers: list[threading.Barrier]) -> list:
    """Run ``worker(thread)`` on THREADS threads; the first error breaks every barrier."""

    def guarded(thread: int):
        try:
            return worker(thread)
        except BaseException:
            for barrier in barriers:
                barrier.abort()  # the other threads fail fast instead of waiting forever
            raise

    with ThreadPoolExecutor(THREADS) as pool:
        futures = [pool.submit(guarded, thread) for thread in range(THREADS)]
    failures = [f.exception() for f in futures if f.exception() is not None]
    if failures:  # the root cause, not a BrokenBarrierError it provoked in another thread
        failures.sort(key=lambda e: isinstance(e, threading.BrokenBarrierError))
        raise failures[0]
    return [f.result() for f in futures]


def _engines_like(engine: Engine, count: int) -> list[Engine]:
    """``engine`` and more engines on the same database, each as another process would hold."""
    url = engine.url.render_as_string(hide_password=False)
    return [engine, *(make_engine(url) for _ in range(count - 1))]


# --- read model and postings ----------------------------------------------------------


def test_record_payment_upserts_read_model_and_posts_the_entry(database_engine: Engine):
    ledger = LedgerActivities(database_engine)
    first = payment_state()

    ledger.record_payment(RecordPaymentCommand(state=first))

    row = read_model_row(database_engine, first.payment_id)
    assert row is not None
    assert (row.tenant_id, row.status, row.amount, row.currency) == (
        TENANT,
        "processing",
        2500,
        "USD",
    )
    assert PaymentState.model_validate_json(row.state_json) == first
    assert row_counts(database_engine)["journal_entries"] == 0

    second = captured(first)
    ledger.record_payment(
        RecordPaymentCommand(state=second, journal=[capture_entry(first.payment_id, 2500)])
    )

    row = read_model_row(database_engine, first.payment_id)
    assert row is not None
    assert (row.status, row.captured_amount, row.provider_reference) == (
        "succeeded",
        2500,
        "ch_123",
    )
    # The full state, steps included, as the workflow last reported it.
    assert PaymentState.model_validate_json(row.state_json) == second
    assert row_counts(database_engine)["payments"] == 1
    assert journal_entries_for(database_engine, first.payment_id) == 1
    assert balance_map(database_engine) == {(CLEARING, "USD"): 2500, (MERCHANT, "USD"): -2500}


def test_balances_are_per_tenant(database_engine: Engine):
    ledger = LedgerActivities(database_engine)
    mine = captured(payment_state(amount=700))
    theirs = captured(payment_state(tenant_id="ten_other", amount=900))
    for state in (mine, theirs):
        ledger.record_payment(
            RecordPaymentCommand(
                state=state, journal=[capture_entry(state.payment_id, state.amount)]
            )
        )

    assert balance_map(database_engine) == {(CLEARING, "USD"): 700, (MERCHANT, "USD"): -700}
    assert balance_map(database_engine, "ten_other") == {
        (CLEARING, "USD"): 900,
        (MERCHANT, "USD"): -900,
    }


# --- idempotency -----------------------------------------------------------------------


def test_a_retried_record_posts_the_entry_once(database_engine: Engine):
    ledger = LedgerActivities(database_engine)
    state = captured(payment_state(amount=1200))
    command = RecordPaymentCommand(state=state, journal=[capture_entry(state.payment_id, 1200)])

    ledger.record_payment(command)
    ledger.record_payment(command)  # the activity retried after its result was lost

    assert journal_entries_for(database_engine, state.payment_id) == 1
    assert row_counts(database_engine)["postings"] == 2
    assert balance_map(database_engine) == {(CLEARING, "USD"): 1200, (MERCHANT, "USD"): -1200}

    # A later record that repeats the capture entry next to a new one posts only the new one.
    refund = entry(
        f"{state.payment_id}:refund:1",
        (MERCHANT, 200, "USD"),
        (CLEARING, -200, "USD"),
        kind="refund",
    )
    later = state.model_copy(update={"refunded_amount": 200})
    ledger.record_payment(RecordPaymentCommand(state=later, journal=[*command.journal, refund]))

    assert journal_entries_for(database_engine, state.payment_id) == 2
    assert balance_map(database_engine) == {(CLEARING, "USD"): 1000, (MERCHANT, "USD"): -1000}


def test_concurrent_attempts_of_the_same_record_post_once(database_engine: Engine):
    """A timed-out attempt may still be running when its retry starts: both must succeed."""
    state = captured(payment_state(amount=4200))
    command = RecordPaymentCommand(state=state, journal=[capture_entry(state.payment_id, 4200)])
    engines = _engines_like(database_engine, 4)
    barrier = threading.Barrier(THREADS)

    def attempt(thread: int) -> None:
        barrier.wait()
        LedgerActivities(engines[thread % len(engines)]).record_payment(command)

    try:
        _run_threads(attempt, [barrier])
    finally:
        for engine in engines[1:]:
            engine.dispose()

    assert journal_entries_for(database_engine, state.payment_id) == 1
    assert balance_map(database_engine) == {(CLEARING, "USD"): 4200, (MERCHANT, "USD"): -4200}


# --- rejected entries ------------------------------------------------------------------


def assert_rejected_writing_nothing(engine: Engine, command: RecordPaymentCommand) -> None:
    with pytest.raises(ApplicationError) as raised:
        LedgerActivities(engine).record_payment(command)

    assert raised.value.type == errors.LEDGER_REJECTED
    assert raised.value.non_retryable
    # Not even the read model row: the state that goes with a rejected entry is not stored.
    assert row_counts(engine) == {
        "payments": 0,
        "journal_entries": 0,
        "postings": 0,
        "ledger_accounts": 0,
    }


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param([(CLEARING, 1000, "USD"), (MERCHANT, -999, "USD")], id="off-by-one"),
        pytest.param([(CLEARING, 1000, "USD")], id="single-line"),
        pytest.param([(CLEARING, 0, "USD")], id="single-zero-line"),
        pytest.param([], id="no-lines"),
        pytest.param(
            [(CLEARING, 1000, "USD"), (MERCHANT, -1000, "EUR")], id="zero-only-across-currencies"
        ),
    ],
)
def test_an_unbalanced_entry_is_rejected_and_writes_nothing(database_engine: Engine, lines):
    state = captured(payment_state(amount=1000))
    command = RecordPaymentCommand(
        state=state, journal=[entry(f"{state.payment_id}:capture", *lines)]
    )

    assert_rejected_writing_nothing(database_engine, command)


def test_one_bad_entry_rejects_the_whole_record(database_engine: Engine):
    state = captured(payment_state(amount=1000))
    good = capture_entry(state.payment_id, 1000)
    bad = entry(f"{state.payment_id}:fee", (MERCHANT, 30, "USD"), ("fees", -29, "USD"))

    assert_rejected_writing_nothing(
        database_engine, RecordPaymentCommand(state=state, journal=[good, bad])
    )


def test_a_rejected_record_leaves_the_previous_state_in_place(database_engine: Engine):
    ledger = LedgerActivities(database_engine)
    first = payment_state(amount=1000)
    ledger.record_payment(RecordPaymentCommand(state=first))
    bad = entry(f"{first.payment_id}:capture", (CLEARING, 1000, "USD"), (MERCHANT, -1, "USD"))

    with pytest.raises(ApplicationError):
        ledger.record_payment(RecordPaymentCommand(state=captured(first), journal=[bad]))

    row = read_model_row(database_engine, first.payment_id)
    assert row is not None
    assert PaymentState.model_validate_json(row.state_json) == first
    assert row_counts(database_engine)["journal_entries"] == 0


# --- multi-currency --------------------------------------------------------------------


def test_a_multi_currency_entry_balances_per_currency(database_engine: Engine):
    ledger = LedgerActivities(database_engine)
    state = captured(payment_state(amount=1000, currency="EUR"))
    # An EUR capture settled in USD: each currency's legs sum to zero on their own.
    conversion = entry(
        f"{state.payment_id}:capture",
        (CLEARING, 1000, "EUR"),
        ("fx_position", -1000, "EUR"),
        ("fx_position", 1085, "USD"),
        (MERCHANT, -1085, "USD"),
    )

    ledger.record_payment(RecordPaymentCommand(state=state, journal=[conversion]))

    assert balance_map(database_engine) == {
        (CLEARING, "EUR"): 1000,
        ("fx_position", "EUR"): -1000,
        ("fx_position", "USD"): 1085,
        (MERCHANT, "USD"): -1085,
    }
    with Session(database_engine) as session:
        by_currency = session.exec(
            select(Posting.currency, func.sum(Posting.amount)).group_by(Posting.currency)
        ).all()
        accounts = session.exec(select(LedgerAccount.code, LedgerAccount.currency)).all()
    assert {currency: int(total) for currency, total in by_currency} == {"EUR": 0, "USD": 0}
    # One account per (code, currency).
    assert sorted(accounts) == [
        ("fx_position", "EUR"),
        ("fx_position", "USD"),
        (MERCHANT, "USD"),
        (CLEARING, "EUR"),
    ]


# --- concurrency -----------------------------------------------------------------------


def test_concurrent_captures_on_the_same_accounts(database_engine: Engine):
    engines = _engines_like(database_engine, 4)
    barrier = threading.Barrier(THREADS)

    def worker(thread: int) -> list[tuple[str, int, str]]:
        ledger = LedgerActivities(engines[thread % len(engines)])
        posted = []
        barrier.wait()  # every thread races to create the accounts on its first entry
        for n in range(PAYMENTS_PER_THREAD):
            currency = "USD" if n % 3 else "EUR"
            amount = 100 + thread * 1000 + n
            state = captured(payment_state(amount=amount, currency=currency))
            ledger.record_payment(
                RecordPaymentCommand(
                    state=state, journal=[capture_entry(state.payment_id, amount, currency)]
                )
            )
            posted.append((f"{state.payment_id}:capture", amount, currency))
        return posted

    try:
        results = _run_threads(worker, [barrier])
    finally:
        for engine in engines[1:]:
            engine.dispose()

    posted = [item for result in results for item in result]
    assert len(posted) == THREADS * PAYMENTS_PER_THREAD
    expected: Counter[str] = Counter()
    for _key, amount, currency in posted:
        expected[currency] += amount

    with Session(database_engine) as session:
        keys = Counter(session.exec(select(JournalEntry.idempotency_key)).all())
        payments = session.exec(select(func.count()).select_from(PaymentRecord)).one()
        accounts = session.exec(select(func.count()).select_from(LedgerAccount)).one()
    assert keys == Counter(key for key, _amount, _currency in posted)  # each exactly once
    assert payments == THREADS * PAYMENTS_PER_THREAD
    assert accounts == 4  # clearing and merchant balance, in USD and EUR: no duplicates
    assert row_counts(database_engine)["postings"] == 2 * THREADS * PAYMENTS_PER_THREAD
    assert balance_map(database_engine) == {
        (CLEARING, "EUR"): expected["EUR"],
        (CLEARING, "USD"): expected["USD"],
        (MERCHANT, "EUR"): -expected["EUR"],
        (MERCHANT, "USD"): -expected["USD"],
    }


def test_concurrent_entries_creating_accounts_in_opposite_orders(database_engine: Engine):
    """Captures list clearing first, refunds merchant first: creating both must not deadlock."""
    engines = _engines_like(database_engine, 4)
    rounds = 10
    barriers = [threading.Barrier(THREADS) for _ in range(rounds)]

    def worker(thread: int) -> None:
        ledger = LedgerActivities(engines[thread % len(engines)])
        for r in range(rounds):
            # Fresh accounts every round, so every round races to create them.
            clearing, merchant = f"provider_clearing:p{r}", f"merchant_balance:m{r}"
            state = captured(payment_state(amount=500))
            if thread % 2:
                lines = [(merchant, 50, "USD"), (clearing, -50, "USD")]
            else:
                lines = [(clearing, 50, "USD"), (merchant, -50, "USD")]
            barriers[r].wait()
            ledger.record_payment(
                RecordPaymentCommand(state=state, journal=[entry(f"{state.payment_id}:x", *lines)])
            )

    try:
        _run_threads(worker, barriers)
    finally:
        for engine in engines[1:]:
            engine.dispose()

    assert row_counts(database_engine)["journal_entries"] == THREADS * rounds
    assert row_counts(database_engine)["ledger_accounts"] == 2 * rounds
    assert all(balance == 0 for balance in balance_map(database_engine).values())


# --- the invariant checks can fail ----------------------------------------------------


def _insert_entry(engine: Engine, key: str, amounts: list[int]) -> None:
    """Write an entry behind the ledger's back, with raw SQL."""
    with engine.begin() as connection:
        account_id = connection.execute(
            text("SELECT id FROM ledger_accounts WHERE code = :code"), {"code": CLEARING}
        ).scalar_one()
        entry_id = connection.execute(
            text(
                "INSERT INTO journal_entries"
                " (tenant_id, idempotency_key, payment_id, kind, description, created_at)"
                " VALUES (:tenant, :key, 'pay_raw', 'capture', 'raw', CURRENT_TIMESTAMP)"
                " RETURNING id"
            ),
            {"tenant": TENANT, "key": key},
        ).scalar_one()
        for amount in amounts:
            connection.execute(
                text(
                    "INSERT INTO postings (entry_id, account_id, amount, currency)"
                    " VALUES (:entry, :account, :amount, 'USD')"
                ),
                {"entry": entry_id, "account": account_id, "amount": amount},
            )


def _delete_entries(engine: Engine, keys: list[str]) -> None:
    with engine.begin() as connection:
        for key in keys:
            connection.execute(
                text(
                    "DELETE FROM postings WHERE entry_id IN"
                    " (SELECT id FROM journal_entries WHERE idempotency_key = :key)"
                ),
                {"key": key},
            )
            connection.execute(
                text("DELETE FROM journal_entries WHERE idempotency_key = :key"), {"key": key}
            )


def test_invariant_checks_detect_corrupt_entries(database_engine: Engine):
    state = captured(payment_state(amount=300))
    LedgerActivities(database_engine).record_payment(
        RecordPaymentCommand(state=state, journal=[capture_entry(state.payment_id, 300)])
    )
    assert_ledger_invariants(database_engine)  # the real entry is fine

    _insert_entry(database_engine, "raw:unbalanced", [100, -90])
    _insert_entry(database_engine, "raw:one-leg", [0])
    _insert_entry(database_engine, "raw:no-legs", [])
    try:
        with Session(database_engine) as session:
            assert unbalanced_entries(session) == [
                LedgerViolation(entry_idempotency_key="raw:unbalanced", currency="USD", total=10)
            ]
            assert sorted(empty_entries(session)) == ["raw:no-legs", "raw:one-leg"]
        with pytest.raises(AssertionError):
            assert_ledger_invariants(database_engine)
    finally:
        _delete_entries(database_engine, ["raw:unbalanced", "raw:one-leg", "raw:no-legs"])

    assert_ledger_invariants(database_engine)
    assert balance_map(database_engine) == {(CLEARING, "USD"): 300, (MERCHANT, "USD"): -300}
