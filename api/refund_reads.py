"""Reading refunds: the read model, refreshed from the workflow's query while one runs."""

from datetime import timedelta

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import func
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from schemas.identity import REFUND_ID, refund_workflow_id
from schemas.refunds import HOLDING_STATUSES, RefundState
from schemas.store.tables import RefundRecord
from workflows.refund.workflow import RefundWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


async def read_refund(
    session: Session, temporal: Client, tenant: str, refund_id: str
) -> RefundState | None:
    """None until the refund was admitted (a refused one never exists)."""
    if not REFUND_ID.match(refund_id):
        return None
    stored = await run_in_threadpool(stored_refund, session, tenant, refund_id)
    if stored is None or stored.status.is_final:
        return stored
    handle = temporal.get_workflow_handle(refund_workflow_id(tenant, refund_id))
    try:
        return await handle.query(RefundWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
    except RPCError:
        return stored


def stored_refund(session: Session, tenant: str, refund_id: str) -> RefundState | None:
    with session.begin():
        state_json = session.exec(
            select(RefundRecord.state_json).where(
                RefundRecord.refund_id == refund_id, RefundRecord.tenant_id == tenant
            )
        ).first()
    return RefundState.model_validate_json(state_json) if state_json else None


def payment_refunds(session: Session, tenant: str, payment_id: str) -> list[RefundState]:
    with session.begin():
        rows = session.exec(
            select(RefundRecord.state_json)
            .where(RefundRecord.payment_id == payment_id, RefundRecord.tenant_id == tenant)
            .order_by(RefundRecord.created_at, RefundRecord.refund_id)
        ).all()
    return [RefundState.model_validate_json(row) for row in rows]


def held_by_refunds(session: Session, tenant: str, payment_id: str) -> int:
    """What admitted refunds take from the payment's captured amount (a pre-check only:
    the workflow's reserve step decides under the payment's lock)."""
    with session.begin():
        total = session.exec(
            select(func.coalesce(func.sum(RefundRecord.amount), 0)).where(
                RefundRecord.payment_id == payment_id,
                RefundRecord.tenant_id == tenant,
                RefundRecord.status.in_([s.value for s in HOLDING_STATUSES]),
            )
        ).one()
    return int(total)
