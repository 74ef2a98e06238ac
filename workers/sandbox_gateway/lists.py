"""List answers: ``{"object": "list", "data": [...], "has_more": bool}``, newest first."""

from collections.abc import Callable
from typing import Any

from workers.sandbox_gateway.store import R
from workers.sandbox_gateway.store import Tx


def answer(rows: list[R], limit: int, render: Callable[[R], dict[str, Any]]) -> dict[str, Any]:
    """``rows`` fetched with ``limit + 1``: the extra one only tells that there is more."""
    return {
        "object": "list",
        "data": [render(row) for row in rows[:limit]],
        "has_more": len(rows) > limit,
    }


def matching(
    tx: Tx,
    model: type[R],
    render: Callable[[R], dict[str, Any]],
    limit: int,
    **equals: str | None,
) -> dict[str, Any]:
    """Rows whose columns equal the given values (``None``: no filter), newest first."""
    filters = {column: value for column, value in equals.items() if value is not None}
    where = " AND ".join(f"{column} = ?" for column in filters) or "1"
    return answer(tx.select(model, where, tuple(filters.values()), limit=limit + 1), limit, render)
