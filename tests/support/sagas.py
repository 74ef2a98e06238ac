"""Start the refund, subscription and installment plan sagas directly as the API starts them,
for workflow tests and the history recorder; and the connected account a payout goes to."""

from datetime import UTC
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client
from temporalio.client import WithStartWorkflowOperation
from temporalio.client import WorkflowHandle
from temporalio.common import TypedSearchAttributes
from temporalio.common import WorkflowIDConflictPolicy

from schemas.identity import installment_plan_workflow_id
from schemas.identity import new_account_id
from schemas.identity import new_installment_plan_id
from schemas.identity import refund_workflow_id
from schemas.identity import subscription_workflow_id
from schemas.installments import CreateInstallmentPlanRequest
from schemas.installments import InstallmentPlanInput
from schemas.installments import build_plan_input
from schemas.refunds import RefundInput
from schemas.refunds import RefundState
from schemas.runtime.settings import Settings
from schemas.store.tables import ConnectedAccountRecord
from schemas.subscriptions import SubscriptionInput
from workflows.installment_plan.workflow import InstallmentPlanWorkflow
from workflows.installment_plan.workflow import filed_at_start
from workflows.refund.workflow import RefundWorkflow
from workflows.subscription.steps import attributes
from workflows.subscription.steps import initial_state
from workflows.subscription.workflow import SubscriptionWorkflow


def add_connected_account(
    engine: Engine, tenant_id: str, bank_account: str = "ba_ok", **standing: Any
) -> str:
    """A sandbox connected account of the tenant paying out to ``bank_account`` (``standing``:
    what its provider says of it, e.g. ``payouts_enabled=False``); its id."""
    account_id = new_account_id()
    with Session(engine) as session, session.begin():
        session.add(
            ConnectedAccountRecord(
                account_id=account_id,
                tenant_id=tenant_id,
                name="Seller",
                provider="sandbox",
                bank_account=bank_account,
                created_at=datetime.now(UTC),
                **standing,
            )
        )
    return account_id


async def refund_with_update(
    client: Client, settings: Settings, refund: RefundInput
) -> tuple[WorkflowHandle, RefundState]:
    """Started with its result update, as the API does: a rejection is the update's answer
    (``WorkflowUpdateFailedError``)."""
    start = WithStartWorkflowOperation(
        RefundWorkflow.run,
        refund,
        id=refund_workflow_id(refund.tenant_id, refund.refund_id),
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        task_queue=settings.task_queue,
    )
    result = await client.execute_update_with_start_workflow(
        RefundWorkflow.wait_for_result, start_workflow_operation=start
    )
    return await start.workflow_handle(), result


async def start_filed(
    client: Client,
    settings: Settings,
    run: Any,
    saga_input: BaseModel,
    workflow_id: str,
    search_attributes: TypedSearchAttributes,
) -> WorkflowHandle:
    """Started on the test's task queue with its search attributes, as the API starts a saga
    (filed in visibility before a worker has run it)."""
    return await client.start_workflow(
        run,
        saga_input,
        id=workflow_id,
        task_queue=settings.task_queue,
        search_attributes=search_attributes,
    )


async def start_subscription(
    client: Client, settings: Settings, sub: SubscriptionInput
) -> WorkflowHandle:
    workflow_id = subscription_workflow_id(sub.tenant_id, sub.subscription_id)
    filed = TypedSearchAttributes(attributes(initial_state(sub)))
    return await start_filed(client, settings, SubscriptionWorkflow.run, sub, workflow_id, filed)


def installment_plan_input(
    request: CreateInstallmentPlanRequest,
    tenant_id: str,
    now: datetime,
    default_retry_days: list[int],
) -> InstallmentPlanInput:
    """The schedule the API computes for a plan of an amount (no invoice): all principal."""
    return build_plan_input(
        request,
        installment_plan_id=new_installment_plan_id(),
        tenant_id=tenant_id,
        customer_id=request.customer_id,
        currency=request.currency,
        components={"principal": request.amount},
        now=now,
        default_retry_days=default_retry_days,
    )


async def start_installment_plan(
    client: Client, settings: Settings, plan: InstallmentPlanInput
) -> WorkflowHandle:
    workflow_id = installment_plan_workflow_id(plan.tenant_id, plan.installment_plan_id)
    filed = filed_at_start(plan)
    return await start_filed(
        client, settings, InstallmentPlanWorkflow.run, plan, workflow_id, filed
    )
