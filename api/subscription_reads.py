"""Plans (SQL) and subscriptions: the workflow's query while it exists, else the read model."""

from datetime import UTC, datetime, timedelta

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.service import RPCError

from schemas.identity import PLAN_ID, SUBSCRIPTION_ID, subscription_workflow_id
from schemas.store.tables import PlanRecord, SubscriptionRecord
from schemas.subscriptions import CreatePlanRequest, Plan, SubscriptionState
from workflows.subscription.workflow import SubscriptionWorkflow

QUERY_TIMEOUT = timedelta(seconds=5)


def _plan(record: PlanRecord) -> Plan:
    return Plan.model_validate(record.model_dump(exclude={"tenant_id"}))


def stored_plan(session: Session, tenant: str, plan_id: str) -> Plan | None:
    """Another tenant's plan is as missing as one that never was."""
    if not PLAN_ID.match(plan_id):
        return None
    with session.begin():
        record = session.exec(
            select(PlanRecord).where(PlanRecord.plan_id == plan_id, PlanRecord.tenant_id == tenant)
        ).first()
        return _plan(record) if record else None


def stored_plans(session: Session, tenant: str, limit: int) -> list[Plan]:
    with session.begin():
        records = session.exec(
            select(PlanRecord)
            .where(PlanRecord.tenant_id == tenant)
            .order_by(PlanRecord.created_at.desc(), PlanRecord.plan_id)
            .limit(limit)
        ).all()
        return [_plan(record) for record in records]


def insert_plan(session: Session, tenant: str, plan_id: str, body: CreatePlanRequest) -> Plan:
    """Store the plan; a retry under the same id (Idempotency-Key) finds it stored."""
    record = PlanRecord(
        plan_id=plan_id, tenant_id=tenant, created_at=datetime.now(UTC), **body.model_dump()
    )
    try:
        with session.begin():
            session.add(record)
    except IntegrityError:
        existing = stored_plan(session, tenant, plan_id)
        if existing is None:
            raise
        return existing
    return _plan(record)


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
    with session.begin():
        state_json = session.exec(
            select(SubscriptionRecord.state_json).where(
                SubscriptionRecord.subscription_id == subscription_id,
                SubscriptionRecord.tenant_id == tenant,
            )
        ).first()
    return SubscriptionState.model_validate_json(state_json) if state_json else None


def stored_subscriptions(
    session: Session, tenant: str, customer_id: str | None, status: str | None, limit: int
) -> list[SubscriptionState]:
    """Newest first."""
    query = select(SubscriptionRecord.state_json).where(SubscriptionRecord.tenant_id == tenant)
    if customer_id is not None:
        query = query.where(SubscriptionRecord.customer_id == customer_id)
    if status is not None:
        query = query.where(SubscriptionRecord.status == status)
    query = query.order_by(
        SubscriptionRecord.created_at.desc(), SubscriptionRecord.subscription_id
    ).limit(limit)
    with session.begin():
        rows = session.exec(query).all()
    return [SubscriptionState.model_validate_json(row) for row in rows]
