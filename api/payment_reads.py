"""Reading payments: the workflow's query while it runs, the read model once it has ended."""

import base64
from datetime import datetime, timedelta

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import and_, or_
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from api.dependencies import transact
from api.problems import Problem
from schemas.identity import PAYMENT_ID, payment_workflow_id
from schemas.payments import PaymentState, PaymentStatus
from schemas.store.read_model import PAYMENTS
from schemas.store.tables import PaymentRecord
from workflows.payment.workflow import PaymentWorkflow

# A query needs a live worker; past this the read model answers instead.
QUERY_TIMEOUT = timedelta(seconds=5)


async def read_payment(
    session: Session, temporal: Client, tenant: str, payment_id: str
) -> PaymentState | None:
    if not PAYMENT_ID.match(payment_id):
        return None
    stored = await run_in_threadpool(stored_payment, session, tenant, payment_id)
    if stored is not None and stored.status.is_final:
        return stored
    handle = temporal.get_workflow_handle(payment_workflow_id(tenant, payment_id))
    try:
        return await handle.query(PaymentWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
    except RPCError:
        return stored  # no worker answering, or history gone: the read model is all we have


def stored_payment(session: Session, tenant: str, payment_id: str) -> PaymentState | None:
    """The read model's copy. SQL runs off the event loop: a busy SQLite waits there."""
    return transact(session, PAYMENTS.get, tenant, payment_id)


def list_payments(
    session: Session,
    tenant: str,
    status: PaymentStatus | None,
    customer_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[PaymentState], str | None]:
    """Newest first, keyset-paginated on (created_at, payment_id)."""
    query = select(PaymentRecord).where(PaymentRecord.tenant_id == tenant)
    if status is not None:
        query = query.where(PaymentRecord.status == status.value)
    if customer_id is not None:
        query = query.where(PaymentRecord.customer_id == customer_id)
    if cursor is not None:
        created_at, payment_id = _decode_cursor(cursor)
        query = query.where(
            or_(
                PaymentRecord.created_at < created_at,
                and_(PaymentRecord.created_at == created_at, PaymentRecord.payment_id < payment_id),
            )
        )
    query = query.order_by(PaymentRecord.created_at.desc(), PaymentRecord.payment_id.desc())
    with session.begin():
        rows = session.exec(query.limit(limit + 1)).all()
    states = [PaymentState.model_validate_json(row.state_json) for row in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return states, next_cursor


def _encode_cursor(row: PaymentRecord) -> str:
    raw = f"{row.created_at.isoformat()}|{row.payment_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, payment_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), payment_id
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "invalid_cursor", "The cursor is not one this API issued") from None
