"""Reading connected accounts (SQL) and payouts: the read model, refreshed from the
workflow's query while one runs."""

from datetime import UTC, datetime, timedelta

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from schemas.identity import ACCOUNT_ID, PAYOUT_ID, payout_workflow_id
from schemas.payouts import ConnectedAccount, CreateConnectedAccountRequest, PayoutState
from schemas.store.tables import ConnectedAccountRecord, PayoutRecord
from workflows.payout.workflow import PayoutWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


# ----------------------------------------------------------------- connected accounts


def _account(record: ConnectedAccountRecord) -> ConnectedAccount:
    return ConnectedAccount.model_validate(record.model_dump())


def stored_connected_account(
    session: Session, tenant: str, account_id: str
) -> ConnectedAccount | None:
    if not ACCOUNT_ID.match(account_id):
        return None
    with session.begin():
        record = session.exec(
            select(ConnectedAccountRecord).where(
                ConnectedAccountRecord.account_id == account_id,
                ConnectedAccountRecord.tenant_id == tenant,
            )
        ).first()
        return _account(record) if record else None


def connected_accounts(session: Session, tenant: str, limit: int) -> list[ConnectedAccount]:
    """Newest first."""
    with session.begin():
        records = session.exec(
            select(ConnectedAccountRecord)
            .where(ConnectedAccountRecord.tenant_id == tenant)
            .order_by(ConnectedAccountRecord.created_at.desc(), ConnectedAccountRecord.account_id)
            .limit(limit)
        ).all()
        return [_account(record) for record in records]


def create_connected_account(
    session: Session, tenant: str, account_id: str, body: CreateConnectedAccountRequest
) -> ConnectedAccount:
    """Store the account; a retry under the same id (Idempotency-Key) finds it stored."""
    record = ConnectedAccountRecord(
        account_id=account_id,
        tenant_id=tenant,
        name=body.name,
        provider=body.provider,
        bank_account=body.bank_account,
        created_at=datetime.now(UTC),
    )
    try:
        with session.begin():
            session.add(record)
    except IntegrityError:
        existing = stored_connected_account(session, tenant, account_id)
        if existing is None:
            raise
        return existing
    return _account(record)


# -------------------------------------------------------------------------- payouts


async def read_payout(
    session: Session, temporal: Client, tenant: str, payout_id: str
) -> PayoutState | None:
    """None until the payout was admitted (a refused one never exists)."""
    if not PAYOUT_ID.match(payout_id):
        return None
    stored = await run_in_threadpool(stored_payout, session, tenant, payout_id)
    if stored is None or stored.status.is_final:
        return stored
    handle = temporal.get_workflow_handle(payout_workflow_id(tenant, payout_id))
    try:
        return await handle.query(PayoutWorkflow.state, rpc_timeout=QUERY_TIMEOUT) or stored
    except RPCError:
        return stored


def stored_payout(session: Session, tenant: str, payout_id: str) -> PayoutState | None:
    with session.begin():
        state_json = session.exec(
            select(PayoutRecord.state_json).where(
                PayoutRecord.payout_id == payout_id, PayoutRecord.tenant_id == tenant
            )
        ).first()
    return PayoutState.model_validate_json(state_json) if state_json else None


def stored_payouts(
    session: Session, tenant: str, account_id: str | None, limit: int
) -> list[PayoutState]:
    """Newest first; only the tenant's (another tenant's account lists nothing)."""
    query = select(PayoutRecord.state_json).where(PayoutRecord.tenant_id == tenant)
    if account_id is not None:
        query = query.where(PayoutRecord.account_id == account_id)
    query = query.order_by(PayoutRecord.created_at.desc(), PayoutRecord.payout_id).limit(limit)
    with session.begin():
        rows = session.exec(query).all()
    return [PayoutState.model_validate_json(row) for row in rows]
