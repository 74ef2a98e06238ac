"""Instants clients send: timezone-aware, and within the range Python can compare; those a
saga schedules on, also before ``LATEST_SCHEDULABLE``.

``0001-01-01T09:00:00+10:00`` is a valid RFC 3339 timestamp, but it lies before
``datetime.min`` in UTC: comparing it with another instant raises ``OverflowError``,
which pydantic does not turn into a validation error (a 500 instead of a 422).
"""

from datetime import UTC
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator
from pydantic import AwareDatetime


def _comparable(moment: datetime) -> datetime:
    try:
        (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except OverflowError:
        raise ValueError("the instant is out of range once converted to UTC") from None
    return moment


Instant = Annotated[AwareDatetime, AfterValidator(_comparable)]
# Naive allowed (read as UTC by the route that takes it).
ComparableDatetime = Annotated[datetime, AfterValidator(_comparable)]

# What a saga schedules on (a due date, a resume date) is before this. A fixed bound, not
# "N years from now": these models are validated again inside workflows, where the clock
# is not ours to read. Far from ``datetime.max``, so the dates built from one (60 monthly
# installments, dunning retries, billing periods) never overflow in a workflow task.
LATEST_SCHEDULABLE = datetime(2200, 1, 1, tzinfo=UTC)


def _schedulable(moment: datetime) -> datetime:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if utc >= LATEST_SCHEDULABLE:
        raise ValueError(f"must be before {LATEST_SCHEDULABLE.date().isoformat()}")
    return moment


SchedulableInstant = Annotated[Instant, AfterValidator(_schedulable)]
# Naive allowed (read as UTC).
SchedulableDatetime = Annotated[ComparableDatetime, AfterValidator(_schedulable)]
