"""Invoice totals: integers in minor units, banker's rounding, rates as decimal strings."""

import pytest
from pydantic import ValidationError

from schemas.domain.invoice_totals import invoice_totals
from schemas.domain.invoice_totals import line_total
from schemas.domain.invoice_totals import parse_rate
from schemas.invoices import CreateInvoiceRequest


def test_totals_are_exact_sums_of_lines_taxes_and_fee():
    totals = invoice_totals([(3, 1999, "0.0825"), (1, 500, "0")], service_fee_rate="0.029")

    # 5997 * 0.0825 = 494.7525 → 495; fee: 6497 * 0.029 = 188.413 → 188.
    assert [(line.subtotal, line.tax) for line in totals.lines] == [(5997, 495), (500, 0)]
    assert (totals.subtotal, totals.tax, totals.fee) == (6497, 495, 188)
    assert totals.total == 6497 + 495 + 188


@pytest.mark.parametrize(
    ("quantity", "unit_amount", "rate", "tax"),
    [
        (1, 50, "0.05", 2),  # 2.5 → 2: a half goes to the even neighbour
        (1, 70, "0.05", 4),  # 3.5 → 4
        (1, 10, "0.25", 2),  # 2.5 → 2
        (1, 30, "0.25", 8),  # 7.5 → 8
        (1, 1, "0.5", 0),  # 0.5 → 0
        (3, 1, "0.5", 2),  # 1.5 → 2
        (1, 10001, "0.0001", 1),  # 1.0001 → 1
        (1, 5000, "0.0001", 0),  # 0.5 → 0
        (1, 15000, "0.0001", 2),  # 1.5 → 2
    ],
)
def test_tax_rounds_half_to_even(quantity, unit_amount, rate, tax):
    assert line_total(quantity, unit_amount, rate).tax == tax


def test_zero_exponent_currency_rounds_to_whole_yen():
    # JPY amounts are whole yen already: 1250 * 0.1 = 125, 1255 * 0.1 = 125.5 → 126.
    totals = invoice_totals([(1, 1250, "0.1"), (1, 1255, "0.1")])
    assert [line.tax for line in totals.lines] == [125, 126]
    assert totals.total == 1250 + 1255 + 251


def test_fee_rounds_once_on_the_sum_of_subtotals():
    # Per line the fee would be 0.5 + 0.5 → 0 + 0; on the sum it is 1.
    assert invoice_totals([(1, 25, "0"), (1, 25, "0")], "0.02").fee == 1


@pytest.mark.parametrize("rate", ["0", "0.1", "0.0825", "0.9999"])
def test_rates_with_up_to_four_places_are_accepted(rate):
    assert str(parse_rate(rate)) == rate


@pytest.mark.parametrize("rate", ["0.00001", "0.08250", "-0.1", "1", "1.5", "abc", "NaN", ""])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError):
        parse_rate(rate)


def test_floats_are_refused():
    with pytest.raises(ValueError):
        parse_rate(0.0825)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", ["0.00001", "-0.1", "1", "1.0", 0.1])
def test_the_request_refuses_bad_rates(rate):
    item = {"description": "x", "quantity": 1, "unit_amount": 100, "tax_rate": rate}
    with pytest.raises(ValidationError):
        CreateInvoiceRequest(
            customer_id="cus_1",
            currency="USD",
            line_items=[item],
            due_at="2030-01-01T00:00:00Z",
        )
