"""Installment plans: read from the workflow's query while it runs, else the read model;
starting one (its schedule computed here, exactly) and sending it updates."""

from datetime import UTC, datetime, timedelta

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session
from temporalio.client import (
    Client,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.dependencies import transact
from api.invoice_reads import invoice_not_found, stored_invoice
from api.openapi import CATALOGUE
from api.problems import Problem
from api.saga_start import start_and_wait
from api.workflow_updates import execute_update
from schemas import errors
from schemas.identity import INSTALLMENT_PLAN_ID, installment_plan_workflow_id
from schemas.installments import (
    CreateInstallmentPlanRequest,
    InstallmentPlanInput,
    InstallmentPlanState,
    build_plan_input,
)
from schemas.invoices import InvoiceStatus
from schemas.money import format_minor
from schemas.runtime.settings import Settings
from schemas.store.read_model import INSTALLMENT_PLANS
from workflows.installment_plan.workflow import InstallmentPlanWorkflow, filed_at_start

QUERY_TIMEOUT = timedelta(seconds=5)

# A plan's update refused by the workflow's validator, by error type.
UPDATE_REFUSALS = {
    errors.AMOUNT_EXCEEDS_OUTSTANDING: "amount_exceeds_outstanding",
    errors.INSTALLMENT_OUT_OF_ORDER: "installment_out_of_order",
    errors.INVALID_PLAN_STATE: "invalid_plan_state",
}


def problem(code: str, detail: str | None = None) -> Problem:
    status, title = CATALOGUE[code]
    return Problem(status, code, title, detail)


def plan_not_found() -> Problem:
    return problem("installment_plan_not_found")


async def plan_input(
    session: Session,
    tenant: str,
    plan_id: str,
    body: CreateInstallmentPlanRequest,
    settings: Settings,
) -> InstallmentPlanInput:
    """The whole schedule: due dates, amounts, and each installment's principal, tax and
    fee. The invoice is checked here so a bad request starts nothing; admission checks it
    again under the invoice's lock."""
    if body.invoice_id is None:
        customer, currency = body.customer_id, body.currency
        components = {"principal": body.amount}
    else:
        invoice = await run_in_threadpool(stored_invoice, session, tenant, body.invoice_id)
        if invoice is None:
            raise invoice_not_found()
        if invoice.status == InvoiceStatus.EXPIRED:
            raise problem("invoice_expired", "the invoice expired before payment started")
        if invoice.status != InvoiceStatus.OPEN:
            raise problem("invoice_locked", f"the invoice is {invoice.status.value}")
        customer, currency = invoice.customer_id, invoice.currency
        components = {"principal": invoice.subtotal, "tax": invoice.tax, "fee": invoice.fee}
    try:
        return build_plan_input(
            body,
            installment_plan_id=plan_id,
            tenant_id=tenant,
            customer_id=customer,
            currency=currency,
            components=components,
            now=datetime.now(UTC),
            default_retry_days=settings.dunning_retry_days,
        )
    except ValueError as invalid:
        raise problem("invalid_installments", str(invalid)) from None


async def start_plan(
    session: Session, temporal: Client, settings: Settings, plan: InstallmentPlanInput
) -> InstallmentPlanState:
    """Start the plan and answer once it is admitted and any charge due now is done."""

    async def stored() -> InstallmentPlanState | None:
        return await read_plan(session, temporal, plan.tenant_id, plan.installment_plan_id)

    def accepted() -> InstallmentPlanState:
        now = datetime.now(UTC)
        state = InstallmentPlanState(
            **plan.model_dump(exclude={"payment_method", "dunning"}),
            created_at=now,
            updated_at=now,
        )
        state.refresh_totals()
        return state

    count = len(plan.installments)
    return await start_and_wait(
        temporal,
        settings,
        InstallmentPlanWorkflow,
        plan,
        installment_plan_workflow_id(plan.tenant_id, plan.installment_plan_id),
        f"{format_minor(plan.total, plan.currency)} in {count} installment"
        f"{'s' if count > 1 else ''}" + (f" for {plan.invoice_id}" if plan.invoice_id else ""),
        stored,
        accepted,
        filed_at_start(plan),
    )


def _refusal(cause: ApplicationError) -> Problem | None:
    code = UPDATE_REFUSALS.get(cause.type)
    return problem(code, cause.message) if code else None


async def _finished() -> Problem:
    return problem("invalid_plan_state", "the plan has finished")


async def send_update(temporal: Client, tenant: str, plan_id: str, update, arg, update_id):
    handle = temporal.get_workflow_handle(installment_plan_workflow_id(tenant, plan_id))
    return await execute_update(
        handle, update, [arg], update_id, refusal=_refusal, finished=_finished
    )


async def read_plan(
    session: Session, temporal: Client, tenant: str, plan_id: str
) -> InstallmentPlanState | None:
    """None until the plan was admitted (a refused one never exists)."""
    if not INSTALLMENT_PLAN_ID.match(plan_id):
        return None
    stored = await run_in_threadpool(stored_plan, session, tenant, plan_id)
    if stored is None or stored.status.is_final:
        return stored
    handle = temporal.get_workflow_handle(installment_plan_workflow_id(tenant, plan_id))
    try:
        return (
            await handle.query(InstallmentPlanWorkflow.state, rpc_timeout=QUERY_TIMEOUT) or stored
        )
    except RPCError:
        return stored


def stored_plan(session: Session, tenant: str, plan_id: str) -> InstallmentPlanState | None:
    return transact(session, INSTALLMENT_PLANS.get, tenant, plan_id)


def stored_plans(
    session: Session, tenant: str, customer_id: str | None, invoice_id: str | None, limit: int
) -> list[InstallmentPlanState]:
    """Newest first, as last recorded."""
    return transact(
        session,
        INSTALLMENT_PLANS.newest,
        tenant,
        limit,
        customer_id=customer_id,
        invoice_id=invoice_id,
    )
