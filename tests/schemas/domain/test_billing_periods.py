"""Period boundaries and proration: calendar-correct and exact, for any anchor."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from schemas.domain.billing_periods import boundary
from schemas.domain.billing_periods import prorate
from schemas.domain.billing_periods import proration
from schemas.domain.billing_periods import unused_fraction

anchors = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
intervals = st.sampled_from(["day", "week", "month", "year"])
counts = st.integers(min_value=1, max_value=12)
amounts = st.integers(min_value=1, max_value=99_999_999_999)


@given(anchors, intervals, counts, st.integers(min_value=0, max_value=400))
def test_boundaries_increase(anchor, interval, count, k):
    assert boundary(anchor, interval, count, 0) == anchor
    assert boundary(anchor, interval, count, k) < boundary(anchor, interval, count, k + 1)


@given(anchors, counts, st.integers(min_value=0, max_value=1200))
def test_month_end_anchors_clamp_and_come_back(anchor, count, k):
    start = boundary(anchor, "month", count, k)
    # Never chained: the anchor's day comes back whenever the month has it.
    assert start.day == anchor.day or (
        start.day < anchor.day and (start + timedelta(days=1)).day == 1
    )
    assert start.time() == anchor.time()


def test_january_31_gives_february_end_then_march_31():
    leap = datetime(2024, 1, 31, 9, tzinfo=UTC)
    plain = datetime(2023, 1, 31, 9, tzinfo=UTC)
    assert [boundary(leap, "month", 1, k).date().isoformat() for k in range(4)] == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
        "2024-04-30",
    ]
    assert boundary(plain, "month", 1, 1).day == 28
    assert boundary(plain, "month", 1, 2).day == 31
    assert boundary(datetime(2024, 2, 29, tzinfo=UTC), "year", 1, 1).date().isoformat() == (
        "2025-02-28"
    )
    assert boundary(datetime(2024, 2, 29, tzinfo=UTC), "year", 1, 4).day == 29


@given(
    amounts, st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=10**6)
)
def test_prorate_is_exact_half_even_and_bounded(amount, numerator, denominator):
    fraction = Fraction(min(numerator, denominator), denominator)
    result = prorate(amount, fraction)
    exact = amount * fraction
    assert abs(result - exact) <= Fraction(1, 2)
    if abs(result - exact) == Fraction(1, 2):
        assert result % 2 == 0  # ties go to the even neighbour
    assert 0 <= result <= amount


def test_prorate_ties_round_to_even():
    assert prorate(5, Fraction(1, 2)) == 2
    assert prorate(7, Fraction(1, 2)) == 4
    assert prorate(3, Fraction(1, 2)) == 2


@given(anchors, intervals, counts, amounts, amounts, st.floats(min_value=0, max_value=1))
def test_proration_never_exceeds_the_plans(anchor, interval, count, old, new, position):
    start, end = boundary(anchor, interval, count, 0), boundary(anchor, interval, count, 1)
    now = start + (end - start) * position
    credit, charge = proration(old, new, start, end, now)
    fraction = unused_fraction(start, end, now)
    assert 0 <= fraction <= 1
    assert (credit, charge) == (round(old * fraction), round(new * fraction))
    assert 0 <= credit <= old and 0 <= charge <= new


def test_unused_fraction_is_exact():
    start = datetime(2024, 2, 1, tzinfo=UTC)
    end = datetime(2024, 3, 1, tzinfo=UTC)  # 29 days
    assert unused_fraction(start, end, start + timedelta(days=10)) == Fraction(19, 29)
    assert unused_fraction(start, end, end + timedelta(days=1)) == 0
    assert unused_fraction(start, end, start - timedelta(days=1)) == 1
