"""The fraud check's SQL (activities/risk/features.py) on SQLite and PostgreSQL: the model's
features and the rules' velocity, from real read-model rows."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from sqlalchemy import Engine

from activities.risk.features import SqlVelocity
from activities.risk.features import compute_features
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.risk_signals import RiskSignals
from schemas.store.read_model import upsert_payment
from tests.support.payments import processing_state

TENANT = "ten_features"
CUSTOMER = "cus_features"
NOW = datetime(2025, 3, 14, 15, 9, 26, tzinfo=UTC)


def payment(ago: timedelta = timedelta(0), **overrides) -> PaymentState:
    at = NOW - ago
    fields = {"tenant_id": TENANT, "customer_id": CUSTOMER, "created_at": at, "updated_at": at}
    return processing_state(**(fields | overrides))


def record(engine: Engine, *states: PaymentState) -> None:
    with engine.begin() as connection:
        for state in states:
            upsert_payment(connection, state)


def features_of(engine: Engine, state: PaymentState, signals: RiskSignals | None = None):
    with engine.begin() as connection:
        return compute_features(connection, state, signals or RiskSignals())


def velocity_of(engine: Engine, state: PaymentState, by, measure, window) -> int:
    with engine.begin() as connection:
        return SqlVelocity(connection, state, state.card_fingerprint)(by, measure, window)


def test_a_first_payment(database_engine: Engine):
    state = payment(amount=1234)
    record(database_engine, state)  # a retried screening: the payment is already recorded

    features = features_of(database_engine, state)

    assert features.new_customer is True
    assert features.amount_zscore == 0
    assert (features.velocity_count_1h, features.velocity_amount_1h) == (0, 0)
    assert features.failed_attempts_24h == 0
    assert features.hour_of_day == 15
    assert features.country_mismatch is False


def test_a_returning_customer_only_within_the_tenant(database_engine: Engine):
    record(database_engine, payment(timedelta(days=20), tenant_id="ten_other"))
    assert features_of(database_engine, payment()).new_customer is True

    record(database_engine, payment(timedelta(days=20)))
    assert features_of(database_engine, payment()).new_customer is False
    assert features_of(database_engine, payment(customer_id="cus_else")).new_customer is True


@pytest.mark.parametrize(
    ("history", "amount", "zscore"),
    [
        pytest.param([], 5000, 0.0, id="no-history"),
        pytest.param([1000], 5000, 0.0, id="one-earlier-payment"),
        pytest.param([2000, 2000, 2000], 5000, 0.0, id="no-spread"),
        pytest.param([1000, 2000, 3000], 4000, 2.0, id="two-deviations-above"),
        pytest.param([1000, 2000, 3000], 1500, -0.5, id="below"),
        # mean 10^10, sample variance 4/3: a one-pass sum of squares (about 4 * 10^20 in
        # floats) would have no significant digit left for it.
        pytest.param(
            [10**10 - 1, 10**10 + 1, 10**10 - 1, 10**10 + 1],
            10**10 + 2,
            2 / (4 / 3) ** 0.5,
            id="large-similar-amounts",
        ),
    ],
)
def test_amount_zscore(database_engine: Engine, history, amount, zscore):
    earlier = [payment(timedelta(days=n + 1), amount=value) for n, value in enumerate(history)]
    # Other currencies and other customers are not compared with.
    others = [
        payment(timedelta(days=1), amount=10**9, currency="EUR"),
        payment(timedelta(days=1), amount=10**9, customer_id="cus_else"),
    ]
    record(database_engine, *earlier, *others)

    features = features_of(database_engine, payment(amount=amount))

    assert features.amount_zscore == pytest.approx(zscore, abs=5e-5)  # kept to 4 decimals


def test_one_hour_velocity(database_engine: Engine):
    record(
        database_engine,
        payment(timedelta(minutes=30), amount=1000),
        payment(timedelta(minutes=59), amount=2500),
        payment(timedelta(minutes=10), amount=777, currency="EUR"),  # counted, not summed
        payment(timedelta(minutes=61), amount=10_000),  # before the hour
        payment(timedelta(minutes=5), amount=10_000, customer_id="cus_else"),
        payment(timedelta(minutes=5), amount=10_000, tenant_id="ten_other"),
    )
    state = payment(amount=50)
    record(database_engine, state)

    features = features_of(database_engine, state)

    assert (features.velocity_count_1h, features.velocity_amount_1h) == (3, 3500)
    assert features.new_customer is False


def test_failed_attempts_in_24_hours(database_engine: Engine):
    record(
        database_engine,
        payment(timedelta(hours=2), status=PaymentStatus.DECLINED),
        payment(timedelta(hours=23), status=PaymentStatus.FAILED),
        payment(timedelta(minutes=5), status=PaymentStatus.DECLINED, currency="EUR"),
        payment(timedelta(hours=25), status=PaymentStatus.DECLINED),  # too long ago
        payment(timedelta(hours=1), status=PaymentStatus.SUCCEEDED),
        payment(timedelta(hours=1), status=PaymentStatus.CANCELED),
        payment(timedelta(hours=1), status=PaymentStatus.DECLINED, customer_id="cus_else"),
    )

    assert features_of(database_engine, payment()).failed_attempts_24h == 3


@pytest.mark.parametrize(
    ("card_country", "ip_country", "mismatch"),
    [("US", "FR", True), ("US", "US", False), (None, "FR", False), ("US", None, False)],
)
def test_country_mismatch_comes_from_the_signals(
    database_engine: Engine, card_country, ip_country, mismatch
):
    signals = RiskSignals(card_country=card_country, ip_country=ip_country)

    assert features_of(database_engine, payment(), signals).country_mismatch is mismatch


def test_hour_of_day_is_the_payment_time_in_utc(database_engine: Engine):
    new_york = timezone(timedelta(hours=-5))
    at = datetime(2025, 3, 14, 23, 30, tzinfo=new_york)  # 04:30 UTC the next day

    features = features_of(database_engine, payment(created_at=at, updated_at=at))

    assert features.hour_of_day == 4


def test_velocity_by_customer_over_any_window(database_engine: Engine):
    record(
        database_engine,
        payment(timedelta(minutes=5), amount=100),
        payment(timedelta(minutes=20), amount=200),
        payment(timedelta(hours=3), amount=400),
        payment(timedelta(minutes=1), amount=800, currency="EUR"),
        payment(timedelta(days=2), amount=1600),
        payment(timedelta(minutes=1), amount=3200, customer_id="cus_else"),
    )
    state = payment(amount=10)
    record(database_engine, state)

    def ask(measure, window):
        return velocity_of(database_engine, state, "customer", measure, window)

    assert ask("count", timedelta(minutes=10)) == 2
    assert ask("count", timedelta(hours=1)) == 3
    assert ask("count", timedelta(days=1)) == 4
    assert ask("count", timedelta(days=30)) == 5
    assert ask("amount", timedelta(minutes=10)) == 100
    assert ask("amount", timedelta(hours=1)) == 300
    assert ask("amount", timedelta(days=30)) == 2300
    assert isinstance(ask("amount", timedelta(days=30)), int)


def test_velocity_by_card_follows_the_card_across_customers(database_engine: Engine):
    record(
        database_engine,
        payment(timedelta(minutes=1), customer_id="cus_a", card_fingerprint="fp_1", amount=5),
        payment(timedelta(minutes=2), customer_id="cus_b", card_fingerprint="fp_1", amount=7),
        payment(timedelta(minutes=3), customer_id="cus_c", card_fingerprint="fp_2", amount=11),
        payment(timedelta(hours=2), customer_id="cus_d", card_fingerprint="fp_1", amount=13),
        payment(timedelta(minutes=1), tenant_id="ten_other", card_fingerprint="fp_1"),
    )
    state = payment(customer_id="cus_e", card_fingerprint="fp_1")
    record(database_engine, state)

    assert velocity_of(database_engine, state, "card_fingerprint", "count", timedelta(hours=1)) == 2
    assert velocity_of(database_engine, state, "card_fingerprint", "count", timedelta(hours=3)) == 3
    assert (
        velocity_of(database_engine, state, "card_fingerprint", "amount", timedelta(hours=1)) == 12
    )
    no_card = payment(customer_id="cus_e")
    assert (
        velocity_of(database_engine, no_card, "card_fingerprint", "count", timedelta(days=1)) == 0
    )
