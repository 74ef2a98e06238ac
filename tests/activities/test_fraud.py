"""FraudActivities.screen_payment called directly against SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from activities.fraud import FraudActivities
from schemas.fraud import ScreeningCommand, ScreeningDecision
from schemas.payments import PaymentState
from schemas.settings import FraudRules
from schemas.tables import PaymentRecord
from tests.support.payments import processing_state

TENANT = "ten_fraud"
WINDOW = timedelta(minutes=10)
MAX_PAYMENTS = 3

RULES = FraudRules(
    amount_ceiling={"USD": 10_000, "EUR": 5_000},
    blocked_customers=["cus_blocked"],
    blocked_payment_methods=["tok_blocked", "pm_stolen"],
    velocity_max_payments=MAX_PAYMENTS,
    velocity_window=WINDOW,
)


def payment_state(**overrides) -> PaymentState:
    return processing_state(**({"tenant_id": TENANT, "amount": 2000} | overrides))


def screen(
    engine: Engine, state: PaymentState, payment_method: str = "tok_visa"
) -> ScreeningDecision:
    command = ScreeningCommand(state=state, payment_method=payment_method)
    return FraudActivities(engine, RULES).screen_payment(command)


def read_model_row(engine: Engine, payment_id: str) -> PaymentRecord | None:
    with Session(engine) as session:
        return session.get(PaymentRecord, payment_id)


def assert_blocked(decision: ScreeningDecision, rule: str) -> None:
    assert decision.action == "block"
    assert decision.rule == rule
    assert decision.reason


def test_an_allowed_payment_is_recorded_as_processing(database_engine: Engine):
    state = payment_state()

    decision = screen(database_engine, state)

    assert decision == ScreeningDecision(action="allow")
    row = read_model_row(database_engine, state.payment_id)
    assert row is not None
    assert (row.tenant_id, row.status, row.customer_id, row.amount, row.currency) == (
        TENANT,
        "processing",
        state.customer_id,
        2000,
        "USD",
    )
    assert PaymentState.model_validate_json(row.state_json) == state


@pytest.mark.parametrize(
    ("amount", "currency", "action"),
    [
        pytest.param(10_000, "USD", "allow", id="usd-at-ceiling"),
        pytest.param(10_001, "USD", "block", id="usd-above-ceiling"),
        pytest.param(5_001, "EUR", "block", id="eur-has-its-own-ceiling"),
        pytest.param(5_000, "EUR", "allow", id="eur-at-ceiling"),
        pytest.param(10**9, "GBP", "allow", id="no-ceiling-for-gbp"),
    ],
)
def test_amount_ceiling_per_currency(database_engine: Engine, amount, currency, action):
    decision = screen(database_engine, payment_state(amount=amount, currency=currency))

    assert decision.action == action
    if action == "block":
        assert_blocked(decision, "amount_ceiling")
        assert currency in (decision.reason or "")
    else:
        assert decision.rule is None


def test_blocked_customer(database_engine: Engine):
    state = payment_state(customer_id="cus_blocked")

    assert_blocked(screen(database_engine, state), "blocked_customer")
    # Screened payments are recorded whatever the decision; the workflow then declines it.
    row = read_model_row(database_engine, state.payment_id)
    assert row is not None
    assert row.status == "processing"
    assert screen(database_engine, payment_state(customer_id="cus_fine")).action == "allow"


@pytest.mark.parametrize("payment_method", ["tok_blocked", "pm_stolen"])
def test_blocked_payment_method(database_engine: Engine, payment_method):
    decision = screen(database_engine, payment_state(), payment_method=payment_method)

    assert_blocked(decision, "blocked_payment_method")


def test_the_first_matching_rule_is_named(database_engine: Engine):
    state = payment_state(amount=20_000, customer_id="cus_blocked")

    assert_blocked(screen(database_engine, state, "tok_blocked"), "amount_ceiling")
    state = payment_state(customer_id="cus_blocked")
    assert_blocked(screen(database_engine, state, "tok_blocked"), "blocked_customer")


def test_velocity_blocks_the_payment_after_the_limit(database_engine: Engine):
    customer, now = "cus_velocity", datetime.now(UTC)
    for n in range(MAX_PAYMENTS):
        at = now - WINDOW + timedelta(minutes=1 + n)  # all inside the window
        state = payment_state(customer_id=customer, created_at=at, updated_at=at)
        assert screen(database_engine, state).action == "allow", f"payment {n + 1}"

    decision = screen(database_engine, payment_state(customer_id=customer, created_at=now))

    assert_blocked(decision, "velocity")
    assert str(MAX_PAYMENTS) in (decision.reason or "")
    # Only this customer is limited.
    assert screen(database_engine, payment_state(customer_id="cus_other")).action == "allow"


def test_velocity_ignores_payments_outside_the_window(database_engine: Engine):
    customer, now = "cus_velocity", datetime.now(UTC)
    for n in range(5):
        old = now - WINDOW - timedelta(minutes=1 + n)
        screen(database_engine, payment_state(customer_id=customer, created_at=old))
    for _ in range(MAX_PAYMENTS):
        state = payment_state(customer_id=customer, created_at=now)
        assert screen(database_engine, state).action == "allow"

    assert_blocked(
        screen(database_engine, payment_state(customer_id=customer, created_at=now)), "velocity"
    )


def test_velocity_ignores_other_tenants(database_engine: Engine):
    customer = "cus_shared_id"
    for _ in range(MAX_PAYMENTS + 2):
        state = payment_state(tenant_id="ten_elsewhere", customer_id=customer)
        screen(database_engine, state)

    for _ in range(MAX_PAYMENTS):
        assert screen(database_engine, payment_state(customer_id=customer)).action == "allow"
    assert_blocked(screen(database_engine, payment_state(customer_id=customer)), "velocity")


def test_a_retried_screening_does_not_count_the_payment_itself(database_engine: Engine):
    customer = "cus_retry"
    states = [payment_state(customer_id=customer) for _ in range(MAX_PAYMENTS)]
    for state in states:
        assert screen(database_engine, state).action == "allow"

    # The activity retried for the last payment: it is already in the read model.
    assert screen(database_engine, states[-1]).action == "allow"
    with Session(database_engine) as session:
        assert session.get(PaymentRecord, states[-1].payment_id) is not None
