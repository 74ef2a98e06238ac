"""Splitting a total into installments, and each installment into the invoice's
components (principal, tax, fee), exactly: every unit of every component lands in exactly
one installment.

Amounts: an equal split ``total // count`` with the remainder on the last installment, or
the client's own amounts. Components: for each installment but the last, each component
gets ``floor(component * amount / total)`` (never more than it has left); the units still
missing from the row go one at a time to the components with the largest fractional
remainders that still have some left; the last installment takes whatever every component
has left. Rows sum to their amounts, columns to the components, nothing is negative.
"""

from collections.abc import Mapping


def split_amounts(total: int, count: int, custom: list[int] | None = None) -> list[int]:
    if total <= 0 or count < 1:
        raise ValueError("a positive total in at least one installment")
    if custom is not None:
        if len(custom) != count or any(amount <= 0 for amount in custom):
            raise ValueError(f"{count} amounts, each greater than 0")
        if sum(custom) != total:
            raise ValueError(f"the amounts sum to {sum(custom)}, not the total {total}")
        return list(custom)
    if total < count:
        raise ValueError(f"{total} minor units cannot make {count} installments of at least 1")
    share = total // count
    return [share] * (count - 1) + [total - share * (count - 1)]


def distribute(components: Mapping[str, int], amounts: list[int]) -> list[dict[str, int]]:
    """Each installment's share of each component; ``components`` sum to ``sum(amounts)``."""
    total = sum(amounts)
    if sum(components.values()) != total or any(v < 0 for v in components.values()):
        raise ValueError("the components must be non-negative and sum to the total")
    names = list(components)
    left = dict(components)
    rows: list[dict[str, int]] = []
    for amount in amounts[:-1]:
        row = {name: min(components[name] * amount // total, left[name]) for name in names}
        fractions = {name: components[name] * amount % total for name in names}
        # Largest fraction first; ties in the order the components were given.
        order = sorted(names, key=lambda name: (-fractions[name], names.index(name)))
        missing = amount - sum(row.values())
        for name in order:  # one unit each: enough unless a cap took more than that
            if missing and left[name] > row[name]:
                row[name] += 1
                missing -= 1
        for name in order:  # caps: fill from whatever capacity is left, in the same order
            take = min(missing, left[name] - row[name])
            row[name] += take
            missing -= take
        for name in names:
            left[name] -= row[name]
        rows.append(row)
    rows.append(dict(left))
    return rows
