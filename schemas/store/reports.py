"""Financial reports computed from the ledger: journal entries and their postings, in SQL.

The financial report sums, per (currency, provider), what a tenant's journal entries of a
period moved (``schemas.domain.journals``): ``capture`` entries (gross captured), ``fee`` entries
(what the provider kept) and ``refund`` entries (money the provider gave back). An entry's
amount is its positive leg (every such entry has exactly one); reserve, release and payout
entries are internal moves and are not counted.
"""

import re
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Annotated

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import Field
from pydantic import StringConstraints
from pydantic import model_validator
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import col
from sqlmodel import select

from schemas.money import CurrencyCode
from schemas.store.tables import JournalEntry
from schemas.store.tables import Posting

# The kinds of entry the report counts, and the figure each one feeds.
CAPTURE, FEE, REFUND = "capture", "fee", "refund"
# A refund the provider failed after it went through: it takes the refund back out.
REFUND_REVERSAL = "refund_reversal"
REPORT_KINDS = (CAPTURE, FEE, REFUND, REFUND_REVERSAL)
# The longest period one request may cover: a year, leap day included.
MAX_PERIOD = timedelta(days=366)

# RFC 3339 full-date, or date-time with optional seconds and offset (no offset: UTC).
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:[Zz]|[+-]\d{2}:\d{2})?)?"
)
# The provider a filter names: the form provider names have (``sandbox``, ``stripe``).
PROVIDER_PATTERN = r"^[a-z][a-z0-9_\-]{0,31}$"
ProviderFilter = Annotated[str, StringConstraints(pattern=PROVIDER_PATTERN)]


class InvalidPeriodError(ValueError):
    """The period is not one a report covers (end not after start, or too long)."""


def as_utc_instant(value: datetime | date | str) -> datetime:
    """An aware UTC datetime: a date is its midnight, a naive date-time is taken as UTC."""
    if isinstance(value, str):
        if not _INSTANT.fullmatch(value):
            raise ValueError("not an ISO 8601 date (2026-05-01) or date-time (…T12:00:00Z)")
        try:
            value = datetime.fromisoformat(value.upper())
        except ValueError:
            # Python's message may quote the input: problems never echo it.
            raise ValueError("not a date or time of the calendar") from None
    elif not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("outside the range of dates") from None


def check_period(
    start: datetime | date | str, end: datetime | date | str
) -> tuple[datetime, datetime]:
    """The half-open period [start, end) in UTC; ``InvalidPeriodError`` when it is not one."""
    start, end = as_utc_instant(start), as_utc_instant(end)
    if end <= start:
        raise InvalidPeriodError("end must be after start (the period is [start, end))")
    if end - start > MAX_PERIOD:
        raise InvalidPeriodError(f"the period may span at most {MAX_PERIOD.days} days")
    return start, end


ReportInstant = Annotated[datetime, BeforeValidator(as_utc_instant)]


class FinancialReportQuery(BaseModel):
    """What ``GET /v1/reports/financial`` asks for, validated."""

    start: ReportInstant
    end: ReportInstant
    currency: CurrencyCode | None = None
    provider: ProviderFilter | None = None

    @model_validator(mode="after")
    def _period(self) -> "FinancialReportQuery":
        check_period(self.start, self.end)
        return self


class FinancialSummary(BaseModel):
    """One currency and provider of a period; amounts in the currency's minor units."""

    currency: str
    provider: str | None = Field(
        description="None for entries posted before the ledger recorded providers"
    )
    gross_captured: int = Field(description="Σ captured amounts")
    captures: int = Field(description="capture entries")
    refunded: int = Field(description="Σ amounts the provider gave back to customers")
    refunds: int = Field(description="refund entries")
    fees: int = Field(description="Σ fees the provider kept")
    net: int = Field(description="gross_captured - fees - refunded")


class FinancialReport(BaseModel):
    start: datetime = Field(description="Inclusive, UTC")
    end: datetime = Field(description="Exclusive, UTC")
    currency: str | None = Field(default=None, description="The currency filter, if any")
    provider: str | None = Field(default=None, description="The provider filter, if any")
    data: list[FinancialSummary] = Field(description="One line per currency and provider")


def financial_report(
    session: Session,
    tenant_id: str,
    start: datetime | date | str,
    end: datetime | date | str,
    currency: str | None = None,
    provider: str | None = None,
) -> FinancialReport:
    """The tenant's captures, fees and refunds of [start, end), per currency and provider.

    One aggregate query (grouped by kind, currency, provider) over the entries of the period,
    found through the (tenant_id, created_at) index, and their positive postings.
    """
    start, end = check_period(start, end)
    query = (
        select(
            JournalEntry.kind,
            Posting.currency,
            JournalEntry.provider,
            func.sum(Posting.amount),
            func.count(),
        )
        .join(Posting, col(Posting.entry_id) == col(JournalEntry.id))
        .where(
            JournalEntry.tenant_id == tenant_id,
            col(JournalEntry.created_at) >= start,
            col(JournalEntry.created_at) < end,
            col(JournalEntry.kind).in_(REPORT_KINDS),
            col(Posting.amount) > 0,
        )
        .group_by(JournalEntry.kind, Posting.currency, JournalEntry.provider)
    )
    if currency is not None:
        query = query.where(Posting.currency == currency)
    if provider is not None:
        query = query.where(JournalEntry.provider == provider)
    lines: dict[tuple[str, str | None], dict[str, int]] = {}
    for kind, line_currency, line_provider, total, count in session.exec(query).all():
        line = lines.setdefault((line_currency, line_provider), dict.fromkeys(_FIGURES, 0))
        amount_field, count_field = _FIELDS[kind]
        sign = -1 if kind == REFUND_REVERSAL else 1
        line[amount_field] += sign * int(total)
        if count_field:
            line[count_field] += sign * int(count)
    data = [
        FinancialSummary(
            currency=line_currency,
            provider=line_provider,
            **figures,
            net=figures["gross_captured"] - figures["fees"] - figures["refunded"],
        )
        for (line_currency, line_provider), figures in sorted(
            lines.items(), key=lambda item: (item[0][0], item[0][1] or "")
        )
    ]
    return FinancialReport(start=start, end=end, currency=currency, provider=provider, data=data)


_FIGURES = ("gross_captured", "captures", "refunded", "refunds", "fees")
# kind → (amount figure, count figure)
_FIELDS: dict[str, tuple[str, str | None]] = {
    CAPTURE: ("gross_captured", "captures"),
    FEE: ("fees", None),
    REFUND: ("refunded", "refunds"),
    REFUND_REVERSAL: ("refunded", "refunds"),
}
