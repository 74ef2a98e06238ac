"""What a payment's refunds add up to, for admission (under the payment's row lock) and for
the API's pre-check and lists."""

from sqlalchemy import Connection
from sqlalchemy import func
from sqlalchemy import select

from schemas.refunds import HOLDING_STATUSES
from schemas.refunds import RefundState
from schemas.refunds import RefundStatus
from schemas.store.tables import RefundRecord

_REFUNDS = RefundRecord.__table__.c


def held_amount(connection: Connection, tenant_id: str, payment_id: str) -> int:
    """What the payment's admitted refunds take from its captured amount."""
    return _sum(connection, tenant_id, payment_id, [s.value for s in HOLDING_STATUSES])


def succeeded_amount(connection: Connection, tenant_id: str, payment_id: str) -> int:
    return _sum(connection, tenant_id, payment_id, [RefundStatus.SUCCEEDED.value])


def refunds_of(connection: Connection, tenant_id: str, payment_id: str) -> list[RefundState]:
    """Oldest first."""
    rows = connection.execute(
        select(_REFUNDS.state_json)
        .where(_REFUNDS.payment_id == payment_id, _REFUNDS.tenant_id == tenant_id)
        .order_by(_REFUNDS.created_at, _REFUNDS.refund_id)
    ).scalars()
    return [RefundState.model_validate_json(row) for row in rows]


def _sum(connection: Connection, tenant_id: str, payment_id: str, statuses: list[str]) -> int:
    total = connection.execute(
        select(func.coalesce(func.sum(_REFUNDS.amount), 0)).where(
            _REFUNDS.payment_id == payment_id,
            _REFUNDS.tenant_id == tenant_id,
            _REFUNDS.status.in_(statuses),
        )
    ).scalar_one()
    return int(total)
