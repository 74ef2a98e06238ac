"""Plans (SQL) and subscriptions: the workflow's query while it exists, else the read model."""

from datetime import UTC, datetime, timedelta

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError

from api.dependencies import transact
from schemas.identity import PLAN_ID, SUBSCRIPTION_ID, subscription_workflow_id
from schemas.store.read_model import SUBSCRIPTIONS
from schemas.store.records import PLANS
from schemas.subscriptions import CreatePlanRequest, Plan, SubscriptionState
from workflows.subscription.workflow import SubscriptionWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


def stored_plan(session: Session, tenant: str, plan_id: str) -> Plan | None:
    """Another tenant's plan is as missing as one that never was."""
    if not PLAN_ID.match(plan_id):
        return None
    return transact(session, PLANS.get, tenant, plan_id)


def stored_plans(session: Session, tenant: str, limit: int) -> list[Plan]:
    return transact(session, PLANS.newest, tenant, limit)


def insert_plan(session: Session, tenant: str, plan_id: str, body: CreatePlanRequest) -> Plan:
    """Store the plan; a retry under the same id (Idempotency-Key) finds it stored."""
    row = body.model_dump() | {
        "plan_id": plan_id,
        "tenant_id": tenant,
        "created_at": datetime.now(UTC),
    }
    return transact(session, PLANS.insert, row)


async def read_subscription(
    session: Session, temporal: Client, tenant: str, subscription_id: str
) -> SubscriptionState | None:
    """The workflow id holds the tenant, so another tenant's subscription is never found."""
    if not SUBSCRIPTION_ID.match(subscription_id):
        return None
    handle = temporal.get_workflow_handle(subscription_workflow_id(tenant, subscription_id))
    try:
        state = await handle.query(SubscriptionWorkflow.state, rpc_timeout=QUERY_TIMEOUT)
    except RPCError:
        state = None  # gone (retention) or unreachable: the read model still knows it
    if state is not None:
        return state
    return await run_in_threadpool(stored_subscription, session, tenant, subscription_id)


def stored_subscription(
    session: Session, tenant: str, subscription_id: str
) -> SubscriptionState | None:
    return transact(session, SUBSCRIPTIONS.get, tenant, subscription_id)


def stored_subscriptions(
    session: Session, tenant: str, customer_id: str | None, status: str | None, limit: int
) -> list[SubscriptionState]:
    """Newest first."""
    return transact(
        session, SUBSCRIPTIONS.newest, tenant, limit, customer_id=customer_id, status=status
    )
