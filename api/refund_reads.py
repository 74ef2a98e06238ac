"""Reading refunds: the read model, refreshed from the workflow's query while one runs."""

from datetime import timedelta

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from api.dependencies import transact
from schemas.identity import REFUND_ID, refund_workflow_id
from schemas.refunds import RefundState
from schemas.store.read_model import REFUNDS
from schemas.store.refunds import held_amount, refunds_of
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
    return transact(session, REFUNDS.get, tenant, refund_id)


def payment_refunds(session: Session, tenant: str, payment_id: str) -> list[RefundState]:
    return transact(session, refunds_of, tenant, payment_id)


def held_by_refunds(session: Session, tenant: str, payment_id: str) -> int:
    """What admitted refunds take from the payment's captured amount (a pre-check only:
    the workflow's reserve step decides under the payment's lock)."""
    return transact(session, held_amount, tenant, payment_id)
