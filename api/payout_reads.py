"""Reading connected accounts (SQL) and payouts: the read model, refreshed from the
workflow's query while one runs."""

from datetime import UTC, datetime, timedelta

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from api.dependencies import transact
from schemas.identity import ACCOUNT_ID, PAYOUT_ID, payout_workflow_id
from schemas.payouts import ConnectedAccount, CreateConnectedAccountRequest, PayoutState
from schemas.store.read_model import PAYOUTS
from schemas.store.records import CONNECTED_ACCOUNTS
from workflows.payout.workflow import PayoutWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


# ----------------------------------------------------------------- connected accounts


def stored_connected_account(
    session: Session, tenant: str, account_id: str
) -> ConnectedAccount | None:
    if not ACCOUNT_ID.match(account_id):
        return None
    return transact(session, CONNECTED_ACCOUNTS.get, tenant, account_id)


def connected_accounts(session: Session, tenant: str, limit: int) -> list[ConnectedAccount]:
    """Newest first."""
    return transact(session, CONNECTED_ACCOUNTS.newest, tenant, limit)


def create_connected_account(
    session: Session, tenant: str, account_id: str, body: CreateConnectedAccountRequest
) -> ConnectedAccount:
    """Store the account; a retry under the same id (Idempotency-Key) finds it stored."""
    row = body.model_dump(include={"name", "provider", "bank_account"}) | {
        "account_id": account_id,
        "tenant_id": tenant,
        "created_at": datetime.now(UTC),
    }
    return transact(session, CONNECTED_ACCOUNTS.insert, row)


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
    return transact(session, PAYOUTS.get, tenant, payout_id)


def stored_payouts(
    session: Session, tenant: str, account_id: str | None, limit: int
) -> list[PayoutState]:
    """Newest first; only the tenant's (another tenant's account lists nothing)."""
    return transact(session, PAYOUTS.newest, tenant, limit, account_id=account_id)
