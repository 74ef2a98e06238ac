"""Exact invoice totals: integer minor units in, integer minor units out.

Amounts are already in the currency's minor unit (cents, yen, fils), so rounding a tax or
fee to a whole number of minor units *is* rounding at the currency's exponent. Halves go
to the even neighbour (banker's rounding): over many invoices the rounding does not drift
towards the merchant or the customer.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN
from decimal import Decimal
from decimal import InvalidOperation

RATE_PLACES = 4


def parse_rate(value: str) -> Decimal:
    """A tax or fee rate: a decimal string, 0 ≤ r < 1, at most four decimal places."""
    if not isinstance(value, str):
        raise ValueError('a rate is a decimal string, e.g. "0.0825" (never a float)')
    try:
        rate = Decimal(value)
    except InvalidOperation:
        raise ValueError('a rate is a decimal string, e.g. "0.0825"') from None
    if not rate.is_finite() or rate < 0 or rate >= 1:
        raise ValueError("a rate must be at least 0 and less than 1")
    if rate.as_tuple().exponent < -RATE_PLACES:
        raise ValueError(f"a rate has at most {RATE_PLACES} decimal places")
    return rate


def round_half_even(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True)
class LineTotal:
    subtotal: int
    tax: int


@dataclass(frozen=True)
class InvoiceTotals:
    lines: tuple[LineTotal, ...]
    subtotal: int
    tax: int
    fee: int
    total: int


def line_total(quantity: int, unit_amount: int, tax_rate: str) -> LineTotal:
    subtotal = quantity * unit_amount
    return LineTotal(subtotal, round_half_even(subtotal * parse_rate(tax_rate)))


def invoice_totals(lines: list[tuple[int, int, str]], service_fee_rate: str = "0") -> InvoiceTotals:
    """``lines``: (quantity, unit_amount, tax_rate). Tax is rounded per line (what the
    customer reads on each line adds up); the fee once, on the sum of the subtotals."""
    computed = tuple(line_total(*line) for line in lines)
    subtotal = sum(line.subtotal for line in computed)
    tax = sum(line.tax for line in computed)
    fee = round_half_even(subtotal * parse_rate(service_fee_rate))
    return InvoiceTotals(computed, subtotal, tax, fee, subtotal + tax + fee)
