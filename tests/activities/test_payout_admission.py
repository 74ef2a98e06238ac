"""Payout admission and bookkeeping (PayoutActivities) on SQLite and PostgreSQL.

The merchant balance's ledger row is the lock that serializes admission: racing payouts can
never take more than is available, the merchant balance never goes negative (a guarded,
credit-normal account: available = -balance), and a refused payout writes nothing.
"""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerActivities
from activities.payouts import PayoutActivities
from schemas import errors
from schemas.domain import journals
from schemas.identity import new_payout_id
from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import PAYOUT_RESERVE
from schemas.ledger import RecordPaymentCommand
from schemas.ledger import connected_balance
from schemas.ledger import provider_clearing
from schemas.payments import PaymentStatus
from schemas.payouts import PayoutInput
from schemas.payouts import PayoutState
from schemas.payouts import PayoutStatus
from schemas.payouts import RecordPayoutCommand
from schemas.store.database import make_engine
from schemas.store.ledger_reports import balance
from schemas.store.tables import JournalEntry
from schemas.store.tables import LedgerAccount
from schemas.store.tables import PayoutRecord
from tests.support.payments import processing_state
from tests.support.sagas import add_connected_account

TENANT = "ten_payouts"


def fund(engine: Engine, amount: int, tenant: str = TENANT) -> None:
    """A captured payment of ``amount``: the merchant balance holds it."""
    state = processing_state(tenant_id=tenant, amount=amount).model_copy(
        update={
            "status": PaymentStatus.SUCCEEDED,
            "authorized_amount": amount,
            "captured_amount": amount,
            "provider_reference": "ch_test",
        }
    )
    journal = journals.capture(state.payment_id, "sandbox", "USD", amount, 0)
    LedgerActivities(engine).record_payment(RecordPaymentCommand(state=state, journal=journal))


def payout_input(account_id: str, amount: int | None, minimum: int = 1) -> PayoutInput:
    return PayoutInput(
        payout_id=new_payout_id(),
        tenant_id=TENANT,
        account_id=account_id,
        amount=amount,
        minimum_amount=minimum,
        currency="USD",
    )


def rejection_code(error: ApplicationError) -> str:
    assert error.type == errors.REJECTED
    return error.details[0]["code"]


def account_balance(engine: Engine, account: str) -> int:
    with Session(engine) as session:
        return balance(session, TENANT, account, "USD")


def counts(engine: Engine) -> tuple[int, int, int]:
    """Payouts, journal entries and ledger accounts stored."""
    with Session(engine) as session:
        return tuple(
            session.exec(select(func.count()).select_from(table)).one()
            for table in (PayoutRecord, JournalEntry, LedgerAccount)
        )


def race(engine: Engine, inputs: list[PayoutInput]) -> list[PayoutState | str]:
    """Reserve every payout at once, each thread through one of four engines (as separate
    worker processes would); a rejection is its code."""
    url = engine.url.render_as_string(hide_password=False)
    engines = [engine, *(make_engine(url) for _ in range(3))]
    start = threading.Barrier(len(inputs))

    def attempt(index: int) -> PayoutState | str:
        activities = PayoutActivities(engines[index % len(engines)])
        start.wait()
        try:
            return activities.reserve_payout(inputs[index]).state
        except ApplicationError as e:
            return rejection_code(e)

    try:
        with ThreadPoolExecutor(len(inputs)) as pool:
            return list(pool.map(attempt, range(len(inputs))))
    finally:
        for other in engines[1:]:
            other.dispose()


def test_racing_payouts_reserve_exactly_what_is_available(database_engine: Engine):
    fund(database_engine, 10_000)
    account_id = add_connected_account(database_engine, TENANT)
    before = counts(database_engine)

    outcomes = race(database_engine, [payout_input(account_id, 1_500) for _ in range(20)])

    admitted = [o for o in outcomes if isinstance(o, PayoutState)]
    assert len(admitted) == 6  # 6 * 1,500 <= 10,000 < 7 * 1,500
    assert outcomes.count("insufficient_balance") == 14
    assert {(o.status, o.amount, o.provider) for o in admitted} == {
        (PayoutStatus.PENDING, 1_500, "sandbox")
    }
    with Session(database_engine) as session:
        rows = session.exec(select(PayoutRecord)).all()
    assert sorted(r.payout_id for r in rows) == sorted(o.payout_id for o in admitted)
    assert account_balance(database_engine, MERCHANT_BALANCE) == -1_000
    assert account_balance(database_engine, PAYOUT_RESERVE) == -9_000
    # The rejected ones wrote nothing: one payout and one entry per admitted payout.
    payouts, entries, accounts = counts(database_engine)
    assert (payouts, entries) == (before[0] + 6, before[1] + 6)
    assert accounts == before[2] + 1  # the payout reserve


def test_a_payout_of_everything_takes_what_is_there_under_the_lock(database_engine: Engine):
    fund(database_engine, 10_000)
    account_id = add_connected_account(database_engine, TENANT)
    # Five payouts of "everything" race five of 1,000: whichever "everything" runs first
    # takes all that is left; every payout after it finds nothing.
    inputs = [payout_input(account_id, None if i % 2 else 1_000) for i in range(10)]

    outcomes = race(database_engine, inputs)

    admitted = {o.payout_id: o.amount for o in outcomes if isinstance(o, PayoutState)}
    everything = [p for p in inputs if p.amount is None and p.payout_id in admitted]
    assert len(everything) == 1
    assert sum(admitted.values()) == 10_000
    assert {o for o in outcomes if isinstance(o, str)} <= {"below_minimum", "insufficient_balance"}
    assert account_balance(database_engine, MERCHANT_BALANCE) == 0
    assert account_balance(database_engine, PAYOUT_RESERVE) == -10_000


def test_below_the_minimum_is_rejected_and_writes_nothing(database_engine: Engine):
    fund(database_engine, 500)
    account_id = add_connected_account(database_engine, TENANT)
    activities = PayoutActivities(database_engine)
    before = counts(database_engine)

    with pytest.raises(ApplicationError) as rejected:
        activities.reserve_payout(payout_input(account_id, None, minimum=1_000))

    assert rejection_code(rejected.value) == "below_minimum"
    assert "5.00 USD available" in rejected.value.details[0]["message"]
    assert counts(database_engine) == before
    assert -account_balance(database_engine, MERCHANT_BALANCE) == 500
    # Nothing at all in another currency (no ledger account either): below any minimum.
    with pytest.raises(ApplicationError) as empty:
        activities.reserve_payout(
            payout_input(account_id, None).model_copy(update={"currency": "EUR"})
        )
    assert rejection_code(empty.value) == "below_minimum"
    assert counts(database_engine) == before
    assert (
        activities.reserve_payout(payout_input(account_id, None, minimum=500)).state.amount == 500
    )
    assert -account_balance(database_engine, MERCHANT_BALANCE) == 0


def test_an_account_its_provider_has_not_enabled_is_rejected_and_writes_nothing(
    database_engine: Engine,
):
    """Scheduled payouts reach admission without the API: it refuses them as well."""
    fund(database_engine, 500)
    account_id = add_connected_account(
        database_engine,
        TENANT,
        payouts_enabled=False,
        requirements_due=["external_account"],
        disabled_reason="requirements.past_due",
    )
    before = counts(database_engine)

    with pytest.raises(ApplicationError) as rejected:
        PayoutActivities(database_engine).reserve_payout(payout_input(account_id, None))

    assert rejection_code(rejected.value) == "payouts_not_enabled"
    assert "external_account" in rejected.value.details[0]["message"]
    assert counts(database_engine) == before
    assert -account_balance(database_engine, MERCHANT_BALANCE) == 500


def test_reserve_is_idempotent_per_payout_id(database_engine: Engine):
    fund(database_engine, 5_000)
    account_id = add_connected_account(database_engine, TENANT)
    activities = PayoutActivities(database_engine)
    payout = payout_input(account_id, None)

    first = activities.reserve_payout(payout)
    again = activities.reserve_payout(payout)

    assert again == first
    assert (first.state.amount, first.bank_account) == (5_000, "ba_ok")
    assert account_balance(database_engine, MERCHANT_BALANCE) == 0
    assert account_balance(database_engine, PAYOUT_RESERVE) == -5_000


def test_another_tenants_account_is_not_found(database_engine: Engine):
    fund(database_engine, 5_000)
    foreign = add_connected_account(database_engine, "ten_other")
    activities = PayoutActivities(database_engine)
    before = counts(database_engine)

    for account_id in (foreign, f"acct_{uuid.uuid4().hex[:24]}"):
        with pytest.raises(ApplicationError) as rejected:
            activities.reserve_payout(payout_input(account_id, 1_000))
        assert rejection_code(rejected.value) == "connected_account_not_found"
    assert counts(database_engine) == before


def finish(activities: PayoutActivities, state: PayoutState, *entries) -> PayoutState:
    done = state.model_copy(update={"updated_at": datetime.now(UTC)})
    journal = [
        entry(state.payout_id, state.account_id, "sandbox", "USD", state.amount)
        for entry in entries
    ]
    activities.record_payout(RecordPayoutCommand(state=done, journal=journal))
    return done


def test_a_paid_payout_leaves_the_provider_and_the_connected_balance_empty(
    database_engine: Engine,
):
    fund(database_engine, 5_000)
    account_id = add_connected_account(database_engine, TENANT)
    activities = PayoutActivities(database_engine)
    state = activities.reserve_payout(payout_input(account_id, 3_000)).state

    state = finish(activities, state, journals.payout_transfer)
    assert account_balance(database_engine, connected_balance(account_id)) == -3_000
    state.status = PayoutStatus.SUCCEEDED
    finish(activities, state, journals.payout_paid)
    finish(activities, state, journals.payout_paid)  # a retried write posts once

    assert account_balance(database_engine, MERCHANT_BALANCE) == -2_000
    assert account_balance(database_engine, PAYOUT_RESERVE) == 0
    assert account_balance(database_engine, connected_balance(account_id)) == 0
    assert account_balance(database_engine, provider_clearing("sandbox")) == 2_000
    with Session(database_engine) as session:
        row = session.get(PayoutRecord, state.payout_id)
    assert (row.status, row.amount) == ("succeeded", 3_000)


def test_a_failed_payout_reverses_and_releases_everything(database_engine: Engine):
    fund(database_engine, 5_000)
    account_id = add_connected_account(database_engine, TENANT)
    activities = PayoutActivities(database_engine)
    state = activities.reserve_payout(payout_input(account_id, None)).state
    state = finish(activities, state, journals.payout_transfer)

    state = finish(activities, state, journals.payout_transfer_reversed)
    activities.release_payout_reservation(state)
    state.status, state.failure_code = PayoutStatus.FAILED, "account_closed"
    finish(activities, state)

    assert account_balance(database_engine, MERCHANT_BALANCE) == -5_000
    assert account_balance(database_engine, PAYOUT_RESERVE) == 0
    assert account_balance(database_engine, connected_balance(account_id)) == 0
    with Session(database_engine) as session:
        row = session.get(PayoutRecord, state.payout_id)
    assert (row.status, row.failure_code) == ("failed", "account_closed")
    # The released money can be paid out again.
    again = activities.reserve_payout(payout_input(account_id, None)).state
    assert again.amount == 5_000


def test_the_reservation_cannot_be_released_while_the_transfer_is_out(database_engine: Engine):
    fund(database_engine, 5_000)
    account_id = add_connected_account(database_engine, TENANT)
    activities = PayoutActivities(database_engine)
    state = activities.reserve_payout(payout_input(account_id, 2_000)).state
    finish(activities, state, journals.payout_transfer)

    with pytest.raises(ApplicationError) as refused:
        activities.release_payout_reservation(state)

    assert refused.value.type == errors.INSUFFICIENT_BALANCE
    assert account_balance(database_engine, MERCHANT_BALANCE) == -3_000
    assert account_balance(database_engine, PAYOUT_RESERVE) == 0
