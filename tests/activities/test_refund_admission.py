"""Refund admission and bookkeeping (RefundActivities) on SQLite and PostgreSQL.

The payment's read-model row is the lock that serializes admission: racing refunds can
never take more than was captured, and the merchant balance never goes negative.
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

from activities.ledger import Ledger
from activities.ledger import LedgerActivities
from activities.refunds import RefundActivities
from schemas import errors
from schemas.domain import journals
from schemas.identity import new_refund_id
from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import REFUND_RESERVE
from schemas.ledger import RecordPaymentCommand
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.refunds import RecordRefundCommand
from schemas.refunds import RefundInput
from schemas.refunds import RefundState
from schemas.refunds import RefundStatus
from schemas.store.database import make_engine
from schemas.store.ledger_reports import balance
from schemas.store.tables import JournalEntry
from schemas.store.tables import PaymentRecord
from schemas.store.tables import RefundRecord
from tests.support.payments import processing_state

TENANT = "ten_refunds"


def captured_payment(engine: Engine, amount: int = 10_000, fee: int = 0) -> PaymentState:
    state = processing_state(tenant_id=TENANT, amount=amount)
    state = state.model_copy(
        update={
            "status": PaymentStatus.SUCCEEDED,
            "authorized_amount": amount,
            "captured_amount": amount,
            "fee": fee,
            "provider_reference": "ch_test",
        }
    )
    journal = journals.capture(state.payment_id, "sandbox", "USD", amount, fee)
    LedgerActivities(engine).record_payment(RecordPaymentCommand(state=state, journal=journal))
    return state


def refund_input(payment: PaymentState, amount: int | None) -> RefundInput:
    return RefundInput(
        refund_id=new_refund_id(), tenant_id=TENANT, payment_id=payment.payment_id, amount=amount
    )


def rejection_code(error: ApplicationError) -> str:
    assert error.type == errors.REJECTED
    return error.details[0]["code"]


def merchant(engine: Engine) -> int:
    with Session(engine) as session:
        return balance(session, TENANT, MERCHANT_BALANCE, "USD")


def refunds_of(engine: Engine, payment_id: str) -> list[RefundRecord]:
    with Session(engine) as session:
        return list(session.exec(select(RefundRecord).where(RefundRecord.payment_id == payment_id)))


def finish(activities: RefundActivities, state: RefundState, status: RefundStatus) -> RefundState:
    done = state.model_copy(update={"status": status, "updated_at": datetime.now(UTC)})
    entry = (
        journals.refund_settled if status == RefundStatus.SUCCEEDED else journals.refund_release
    )(state.refund_id, state.provider, state.currency, state.amount)
    activities.record_refund(RecordRefundCommand(state=done, journal=[entry]))
    return done


def test_racing_refunds_admit_exactly_what_was_captured(database_engine: Engine):
    payment = captured_payment(database_engine, amount=10_000)
    url = database_engine.url.render_as_string(hide_password=False)
    # Each thread its own engine, as separate worker processes would have.
    engines = [database_engine, *(make_engine(url) for _ in range(3))]
    start = threading.Barrier(20)

    def attempt(index: int) -> str:
        activities = RefundActivities(engines[index % len(engines)])
        start.wait()
        try:
            activities.reserve_refund(refund_input(payment, 1_500))
            return "admitted"
        except ApplicationError as e:
            return rejection_code(e)

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(attempt, range(20)))
    for engine in engines[1:]:
        engine.dispose()

    assert outcomes.count("admitted") == 6  # 6 * 1,500 <= 10,000 < 7 * 1,500
    assert outcomes.count("amount_exceeds_refundable") == 14
    rows = refunds_of(database_engine, payment.payment_id)
    assert sum(row.amount for row in rows) == 9_000
    assert {row.status for row in rows} == {"pending"}
    assert merchant(database_engine) == -1_000
    with Session(database_engine) as session:
        assert balance(session, TENANT, REFUND_RESERVE, "USD") == -9_000


def test_the_rest_is_refunded_when_no_amount_is_given(database_engine: Engine):
    payment = captured_payment(database_engine, amount=5_000)
    activities = RefundActivities(database_engine)
    first = activities.reserve_refund(refund_input(payment, 2_000))
    finish(activities, first, RefundStatus.SUCCEEDED)

    rest = activities.reserve_refund(refund_input(payment, None))

    assert rest.amount == 3_000
    assert (rest.currency, rest.provider, rest.charge_reference) == ("USD", "sandbox", "ch_test")
    with pytest.raises(ApplicationError) as nothing_left:
        activities.reserve_refund(refund_input(payment, None))
    assert rejection_code(nothing_left.value) == "amount_exceeds_refundable"


def test_reserve_is_idempotent_per_refund_id(database_engine: Engine):
    payment = captured_payment(database_engine, amount=5_000)
    activities = RefundActivities(database_engine)
    refund = refund_input(payment, 2_000)

    first = activities.reserve_refund(refund)
    again = activities.reserve_refund(refund)

    assert again == first
    assert len(refunds_of(database_engine, payment.payment_id)) == 1
    assert merchant(database_engine) == -3_000


def test_success_marks_the_payment_partially_then_fully_refunded(database_engine: Engine):
    payment = captured_payment(database_engine, amount=5_000)
    activities = RefundActivities(database_engine)

    first = finish(
        activities, activities.reserve_refund(refund_input(payment, 2_000)), RefundStatus.SUCCEEDED
    )
    finish(activities, first, RefundStatus.SUCCEEDED)  # a retried write counts once

    with Session(database_engine) as session:
        row = session.get(PaymentRecord, payment.payment_id)
        stored = PaymentState.model_validate_json(row.state_json)
    assert (row.status, row.refunded_amount) == ("partially_refunded", 2_000)
    assert (stored.status, stored.refunded_amount) == (PaymentStatus.PARTIALLY_REFUNDED, 2_000)

    finish(
        activities, activities.reserve_refund(refund_input(payment, None)), RefundStatus.SUCCEEDED
    )

    with Session(database_engine) as session:
        row = session.get(PaymentRecord, payment.payment_id)
    assert (row.status, row.refunded_amount) == ("refunded", 5_000)
    assert merchant(database_engine) == 0
    with pytest.raises(ApplicationError) as refunded:
        activities.reserve_refund(refund_input(payment, 1))
    assert rejection_code(refunded.value) == "invalid_state"


def test_a_failed_refund_releases_its_reservation(database_engine: Engine):
    payment = captured_payment(database_engine, amount=5_000)
    activities = RefundActivities(database_engine)

    finish(activities, activities.reserve_refund(refund_input(payment, 5_000)), RefundStatus.FAILED)

    assert merchant(database_engine) == -5_000
    again = activities.reserve_refund(refund_input(payment, 5_000))
    assert again.amount == 5_000
    with Session(database_engine) as session:
        assert session.get(PaymentRecord, payment.payment_id).status == "succeeded"


def test_a_refund_the_merchant_balance_cannot_cover_is_rejected_and_changes_nothing(
    database_engine: Engine,
):
    payment = captured_payment(database_engine, amount=5_000)
    # The merchant's money was paid out meanwhile.
    with Ledger(database_engine).transaction() as transaction:
        transaction.post(TENANT, [journals.payout_reserve("po_drain", "sandbox", "USD", 4_000)])
    activities = RefundActivities(database_engine)
    with Session(database_engine) as session:
        entries_before = session.exec(select(func.count()).select_from(JournalEntry)).one()

    with pytest.raises(ApplicationError) as rejected:
        activities.reserve_refund(refund_input(payment, 2_000))

    assert rejection_code(rejected.value) == "insufficient_balance"
    assert refunds_of(database_engine, payment.payment_id) == []
    with Session(database_engine) as session:
        assert session.exec(select(func.count()).select_from(JournalEntry)).one() == entries_before
    assert merchant(database_engine) == -1_000
    assert activities.reserve_refund(refund_input(payment, 1_000)).amount == 1_000


def test_refunds_of_an_unknown_or_uncaptured_payment_are_rejected(database_engine: Engine):
    activities = RefundActivities(database_engine)
    pending = processing_state(tenant_id=TENANT)
    LedgerActivities(database_engine).record_payment(RecordPaymentCommand(state=pending))
    unknown = pending.model_copy(update={"payment_id": f"pay_{uuid.uuid4().hex[:24]}"})

    for payment, code in ((pending, "invalid_state"), (unknown, "payment_not_found")):
        with pytest.raises(ApplicationError) as rejected:
            activities.reserve_refund(refund_input(payment, 100))
        assert rejection_code(rejected.value) == code
