"""The financial report (schemas/store/reports.py) on SQLite and PostgreSQL, over entries posted
through the real ledger (``Ledger.transaction`` with the ``schemas.domain.journals`` builders).

The clock the ledger stamps entries with is set per posting, so periods and their
boundaries can be tested; everything else is the production code path.
"""

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

import activities.ledger
from activities.ledger import Ledger
from schemas.domain import journals
from schemas.store.reports import FinancialReport
from schemas.store.reports import FinancialReportQuery
from schemas.store.reports import FinancialSummary
from schemas.store.reports import InvalidPeriodError
from schemas.store.reports import check_period
from schemas.store.reports import financial_report

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ACME, GLOBEX = "ten_acme", "ten_globex"


class Clock:
    """Stands in for ``datetime`` in activities.ledger: ``now()`` is whatever was set."""

    moment = T0

    @classmethod
    def now(cls, tz=None):
        return cls.moment


@pytest.fixture
def ledger(database_engine, monkeypatch) -> "Books":
    monkeypatch.setattr(activities.ledger, "datetime", Clock)
    return Books(database_engine)


class Books:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ledger = Ledger(engine)

    def post(self, tenant: str, at: datetime, entries, payment_id: str | None = None) -> None:
        Clock.moment = at
        with self._ledger.transaction() as transaction:
            assert transaction.post(tenant, entries, payment_id=payment_id) == len(entries)

    def pay(self, tenant, payment_id, at, amount, fee, currency="USD", provider="sandbox"):
        entries = journals.capture(payment_id, provider, currency, amount, fee)
        self.post(tenant, at, entries, payment_id)

    def refund(self, tenant, payment_id, refund_id, at, amount, currency="USD", provider="sandbox"):
        self.post(
            tenant,
            at,
            [journals.refund_reserve(refund_id, provider, currency, amount)],
            payment_id,
        )
        self.post(
            tenant,
            at + timedelta(seconds=1),
            [journals.refund_settled(refund_id, provider, currency, amount)],
            payment_id,
        )

    def report(self, tenant, start=T0, end=T0 + timedelta(days=30), **filters) -> FinancialReport:
        with Session(self.engine) as session:
            return financial_report(session, tenant, start, end, **filters)


def line(report: FinancialReport, currency: str, provider: str) -> FinancialSummary:
    (found,) = [x for x in report.data if (x.currency, x.provider) == (currency, provider)]
    return found


def figures(summary: FinancialSummary) -> tuple[int, ...]:
    return (
        summary.gross_captured,
        summary.captures,
        summary.refunded,
        summary.refunds,
        summary.fees,
        summary.net,
    )


@pytest.fixture
def books(ledger: Books) -> Books:
    """Two tenants' month: card payments in two currencies through two providers, refunds
    (one refused by the provider: reserved, then released), and a payment without fee."""
    day = timedelta(days=1)
    ledger.pay(ACME, "pay_a1", T0 + 1 * day, 10_000, 320)
    ledger.pay(ACME, "pay_a2", T0 + 2 * day, 5_000, 175)
    ledger.pay(ACME, "pay_a3", T0 + 3 * day, 2_000, 0)  # no fee: no fee entry
    ledger.pay(ACME, "pay_a4", T0 + 4 * day, 4_000, 146, currency="EUR")
    ledger.pay(ACME, "pay_a5", T0 + 5 * day, 3_000, 117, provider="stripe")
    ledger.refund(ACME, "pay_a1", "re_a1", T0 + 6 * day, 2_500)
    ledger.refund(ACME, "pay_a1", "re_a1b", T0 + 7 * day, 1_000)
    ledger.refund(ACME, "pay_a4", "re_a4", T0 + 8 * day, 4_000 - 146, currency="EUR")
    # Refused by the provider: the reserve is released, nothing was refunded.
    ledger.post(ACME, T0 + 9 * day, [journals.refund_reserve("re_a2", "sandbox", "USD", 700)])
    ledger.post(ACME, T0 + 9 * day, [journals.refund_release("re_a2", "sandbox", "USD", 700)])
    ledger.pay(GLOBEX, "pay_g1", T0 + 1 * day, 99_999, 2_930)
    ledger.refund(GLOBEX, "pay_g1", "re_g1", T0 + 2 * day, 1)
    return ledger


def test_sums_counts_and_net_per_currency_and_provider(books):
    report = books.report(ACME)

    assert [(x.currency, x.provider) for x in report.data] == [
        ("EUR", "sandbox"),
        ("USD", "sandbox"),
        ("USD", "stripe"),
    ]
    # gross, captures, refunded, refunds, fees, net = gross - fees - refunded
    assert figures(line(report, "USD", "sandbox")) == (
        17_000,
        3,
        3_500,
        2,
        495,
        17_000 - 495 - 3_500,
    )
    assert figures(line(report, "EUR", "sandbox")) == (4_000, 1, 3_854, 1, 146, 0)
    assert figures(line(report, "USD", "stripe")) == (3_000, 1, 0, 0, 117, 2_883)
    assert (report.start, report.end) == (T0, T0 + timedelta(days=30))
    assert (report.currency, report.provider) == (None, None)


def test_filters_by_currency_and_provider(books):
    usd = books.report(ACME, currency="USD")
    assert [(x.currency, x.provider) for x in usd.data] == [("USD", "sandbox"), ("USD", "stripe")]
    assert usd.currency == "USD"

    stripe = books.report(ACME, provider="stripe")
    assert [(x.currency, x.provider) for x in stripe.data] == [("USD", "stripe")]

    both = books.report(ACME, currency="EUR", provider="sandbox")
    assert figures(line(both, "EUR", "sandbox")) == (4_000, 1, 3_854, 1, 146, 0)
    assert books.report(ACME, currency="GBP").data == []
    assert books.report(ACME, currency="EUR", provider="stripe").data == []


def test_the_period_is_half_open(books):
    capture_of_a2 = T0 + timedelta(days=2)
    # Ends exactly at a2's capture: a1 only.
    before = books.report(ACME, T0, capture_of_a2, currency="USD")
    assert figures(line(before, "USD", "sandbox")) == (10_000, 1, 0, 0, 320, 9_680)
    # Starts exactly at it: a2 in, a1 out; ends a microsecond after a3's capture.
    after = books.report(
        ACME, capture_of_a2, T0 + timedelta(days=3, microseconds=1), currency="USD"
    )
    assert figures(line(after, "USD", "sandbox")) == (7_000, 2, 0, 0, 175, 6_825)
    # A refund alone in its period: negative net.
    refunds = books.report(ACME, T0 + timedelta(days=6), T0 + timedelta(days=7))
    assert figures(line(refunds, "USD", "sandbox")) == (0, 0, 2_500, 1, 0, -2_500)
    # Nothing before the first entry; dates count as midnight UTC.
    assert books.report(ACME, date(2026, 2, 1), date(2026, 3, 1)).data == []
    march_2 = books.report(ACME, "2026-03-02", "2026-03-02T00:00:00.000001Z")
    assert figures(line(march_2, "USD", "sandbox")) == (10_000, 1, 0, 0, 320, 9_680)


def test_a_tenant_sees_only_its_own_entries(books):
    globex = books.report(GLOBEX)
    assert [figures(x) for x in globex.data] == [(99_999, 1, 1, 1, 2_930, 97_068)]
    assert books.report("ten_nobody").data == []
    # The other tenant's figures are not in ACME's lines either.
    assert line(books.report(ACME), "USD", "sandbox").gross_captured == 17_000


def test_an_empty_ledger_reports_no_lines(ledger):
    report = ledger.report(ACME, currency="USD", provider="sandbox")
    assert report.data == []
    assert (report.currency, report.provider) == ("USD", "sandbox")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (T0, T0, "end must be after start"),
        (T0 + timedelta(seconds=1), T0, "end must be after start"),
        (T0, T0 + timedelta(days=366, microseconds=1), "at most 366 days"),
    ],
)
def test_invalid_periods_are_refused(start, end, message):
    with pytest.raises(InvalidPeriodError, match=message):
        check_period(start, end)


def test_periods_are_normalized_to_utc():
    assert check_period("2026-03-01", "2027-03-02") == (T0, datetime(2027, 3, 2, tzinfo=UTC))
    paris = timezone(timedelta(hours=1))
    assert check_period(datetime(2026, 3, 1, 1, tzinfo=paris), "2026-03-01T12:00") == (
        T0,
        datetime(2026, 3, 1, 12, tzinfo=UTC),
    )
    assert check_period("2026-03-01t00:00:00z", "2026-03-01T00:00:00.5+00:00")[1] == (
        datetime(2026, 3, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "2026-03-02", "end": "2026-03-01"}, ()),
        ({"start": "2026-03-01", "end": "2027-03-03"}, ()),
        ({"start": "yesterday", "end": "2026-03-01"}, ("start",)),
        ({"start": "2026-03-01", "end": "2026-13-01"}, ("end",)),
        ({"start": "20260301", "end": "2026-03-02"}, ("start",)),
        ({"start": "2026-03-01", "end": "2026-03-02", "currency": "usd"}, ("currency",)),
        ({"start": "2026-03-01", "end": "2026-03-02", "currency": "XXX"}, ("currency",)),
        ({"start": "2026-03-01", "end": "2026-03-02", "provider": "Sandbox"}, ("provider",)),
    ],
)
def test_the_query_model_refuses_bad_input(params, field):
    with pytest.raises(ValidationError) as refused:
        FinancialReportQuery(**params)
    assert refused.value.errors()[0]["loc"] == field


def test_a_refund_the_provider_failed_later_is_taken_back_out(ledger):
    ledger.pay(ACME, "pay_r1", T0 + timedelta(days=1), 10_000, 0)
    ledger.refund(ACME, "pay_r1", "re_r1", T0 + timedelta(days=2), 4_000)
    ledger.refund(ACME, "pay_r1", "re_r2", T0 + timedelta(days=2), 1_000)
    failed = journals.refund_reversed("re_r1", "sandbox", "USD", 4_000)
    ledger.post(ACME, T0 + timedelta(days=3), [failed], "pay_r1")

    summary = line(ledger.report(ACME), "USD", "sandbox")
    assert (summary.refunded, summary.refunds, summary.net) == (1_000, 1, 9_000)
    # Reported in the period it happened: the refund's period still shows it.
    before = ledger.report(ACME, end=T0 + timedelta(days=3))
    assert line(before, "USD", "sandbox").refunded == 5_000
