"""Instants clients send: timezone-aware, and within the range Python can compare.

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
