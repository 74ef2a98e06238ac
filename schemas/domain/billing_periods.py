"""Billing periods and proration: pure, calendar-correct and exact.

Boundary ``k`` is always ``anchor + k * interval``, computed from the anchor and never by
adding one interval to the previous boundary: relativedelta clamps a month-end day (Jan 31
→ Feb 29), and chaining would keep the clamped day for ever (Feb 29 → Mar 29 → …).
"""

from datetime import datetime
from datetime import timedelta
from fractions import Fraction
from typing import Literal

from dateutil.relativedelta import relativedelta

Interval = Literal["day", "week", "month", "year"]
_MICROSECOND = timedelta(microseconds=1)


def boundary(anchor: datetime, interval: Interval, interval_count: int, k: int) -> datetime:
    """The start of period ``k`` (period 0 starts at the anchor)."""
    return anchor + relativedelta(**{f"{interval}s": interval_count * k})


def period_bounds(
    anchor: datetime, interval: Interval, interval_count: int, k: int
) -> tuple[datetime, datetime]:
    return (
        boundary(anchor, interval, interval_count, k),
        boundary(anchor, interval, interval_count, k + 1),
    )


def unused_fraction(start: datetime, end: datetime, now: datetime) -> Fraction:
    """The part of ``[start, end)`` still ahead at ``now``, exactly (microseconds)."""
    length = end - start
    left = min(max(end - now, timedelta(0)), length)
    return Fraction(left // _MICROSECOND, length // _MICROSECOND)


def prorate(amount: int, fraction: Fraction) -> int:
    """``amount * fraction`` in minor units, rounded half to even (``round`` on a Fraction
    is exact and banker's)."""
    if not 0 <= fraction <= 1:
        raise ValueError("a proration fraction lies in [0, 1]")
    return round(amount * fraction)


def proration(
    old_amount: int, new_amount: int, start: datetime, end: datetime, now: datetime
) -> tuple[int, int]:
    """(credit for the unused part of the old plan, charge for it on the new plan)."""
    fraction = unused_fraction(start, end, now)
    return prorate(old_amount, fraction), prorate(new_amount, fraction)
