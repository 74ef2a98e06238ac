"""Matching the ledger's movements with the provider's, item by item and in day totals."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from schemas.reconciliation import DayTotals
from schemas.reconciliation import Mismatch

# The day total each kind of movement adds to.
FIELDS = {
    "capture": "captured",
    "fee": "fees",
    "refund": "refunded",
    "dispute": "disputed",
    "dispute_fee": "dispute_fees",
}


@dataclass(frozen=True)
class Movement:
    kind: str  # capture, fee, refund, dispute, dispute_fee
    id: str | None  # payment id (capture, fee), refund id or dispute id
    currency: str
    amount: int  # positive; a compensation refund is a negative capture
    at: datetime


def compare(
    ledger: list[Movement], provider: list[Movement], day_start: datetime, day_end: datetime
) -> tuple[list[DayTotals], list[Mismatch]]:
    """Totals of the day per currency, and every item of the day the two sides disagree on.

    Items are matched over a window wider than the day (a capture booked a second after
    midnight still matches its charge), and reported when either side has it that day.
    """
    today = {(m.kind, m.id, m.currency) for m in ledger + provider if day_start <= m.at < day_end}
    sums: dict[str, dict[tuple, int]] = {"ledger": defaultdict(int), "provider": defaultdict(int)}
    seen: dict[str, set[tuple]] = {"ledger": set(), "provider": set()}
    for side, movements in (("ledger", ledger), ("provider", provider)):
        for m in movements:
            sums[side][m.kind, m.id, m.currency] += m.amount
            seen[side].add((m.kind, m.id, m.currency))
    mismatches = []
    for key in sorted(today, key=lambda k: (k[0], str(k[1]), k[2])):
        ours, theirs = sums["ledger"].get(key), sums["provider"].get(key)
        if (ours or 0) == (theirs or 0):
            continue
        kind, item, currency = key
        if key not in seen["ledger"] or not ours:
            problem = "missing_in_ledger"
        elif key not in seen["provider"] or not theirs:
            problem = "missing_at_provider"
        else:
            problem = "amount_differs"
        mismatches.append(
            Mismatch(
                kind=kind,
                id=str(item),
                currency=currency,
                ledger_amount=ours,
                provider_amount=theirs,
                problem=problem,
            )
        )
    return _totals(ledger, provider, day_start, day_end), mismatches


def _totals(
    ledger: list[Movement], provider: list[Movement], day_start: datetime, day_end: datetime
) -> list[DayTotals]:
    totals: dict[str, DayTotals] = {}
    for side, movements in (("ledger", ledger), ("provider", provider)):
        for m in movements:
            if not day_start <= m.at < day_end:
                continue
            row = totals.setdefault(m.currency, DayTotals(currency=m.currency))
            field = FIELDS[m.kind]
            name = f"{side}_{field}"
            setattr(row, name, getattr(row, name) + m.amount)
    return [totals[currency] for currency in sorted(totals)]
