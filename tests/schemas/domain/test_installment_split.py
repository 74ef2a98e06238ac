"""Splitting a total into installments and each installment into principal, tax and fee."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.domain.installment_split import distribute
from schemas.domain.installment_split import split_amounts
from schemas.domain.invoice_totals import invoice_totals
from schemas.money import MAX_AMOUNT_MINOR

rates = st.integers(min_value=0, max_value=9999).map(lambda n: f"0.{n:04d}")


@given(
    subtotal=st.integers(min_value=1, max_value=MAX_AMOUNT_MINOR // 3),
    tax_rate=rates,
    fee_rate=rates,
    count=st.integers(min_value=1, max_value=60),
)
def test_installments_and_components_add_up_exactly(subtotal, tax_rate, fee_rate, count):
    totals = invoice_totals([(1, subtotal, tax_rate)], fee_rate)
    components = {"principal": totals.subtotal, "tax": totals.tax, "fee": totals.fee}
    count = min(count, totals.total)
    amounts = split_amounts(totals.total, count)
    rows = distribute(components, amounts)

    assert sum(amounts) == totals.total
    assert len(rows) == count
    for row, amount in zip(rows, amounts, strict=True):
        assert sum(row.values()) == amount
        assert min(row.values()) >= 0
    for name, total in components.items():
        assert sum(row[name] for row in rows) == total


@given(
    amounts=st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=60),
    tax=st.integers(min_value=0, max_value=10**9),
    fee=st.integers(min_value=0, max_value=10**6),
)
def test_custom_amounts_are_distributed_exactly(amounts, tax, fee):
    total = sum(amounts)
    tax, fee = min(tax, total), min(fee, total - min(tax, total))
    components = {"principal": total - tax - fee, "tax": tax, "fee": fee}
    rows = distribute(components, split_amounts(total, len(amounts), amounts))

    assert [sum(row.values()) for row in rows] == amounts
    assert all(value >= 0 for row in rows for value in row.values())
    for name, value in components.items():
        assert sum(row[name] for row in rows) == value


def test_the_remainder_goes_to_the_last_installment():
    assert split_amounts(10000, 3) == [3333, 3333, 3334]
    assert split_amounts(7, 7) == [1] * 7


def test_components_are_proportional():
    rows = distribute({"principal": 9000, "tax": 743, "fee": 257}, split_amounts(10000, 3))
    # 3333 of 10000: principal 2999.7, tax 247.64, fee 85.66; the two missing units go to
    # the largest fractions (principal, fee); the last row takes what is left.
    assert rows == [
        {"principal": 3000, "tax": 247, "fee": 86},
        {"principal": 3000, "tax": 247, "fee": 86},
        {"principal": 3000, "tax": 249, "fee": 85},
    ]


def test_custom_amounts_must_match_the_total():
    assert split_amounts(100, 2, [30, 70]) == [30, 70]
    with pytest.raises(ValueError, match="sum to 90"):
        split_amounts(100, 2, [30, 60])
    with pytest.raises(ValueError):
        split_amounts(100, 2, [100, 0])
    with pytest.raises(ValueError):
        split_amounts(2, 3)
