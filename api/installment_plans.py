"""Installment plans: the whole schedule computed here, exactly, then the saga started with
it; updates sent to a plan that has not finished."""

from datetime import UTC
from datetime import datetime

from fastapi import Response
from pydantic import BaseModel

from api import customers
from api.idempotency import Idempotent
from api.idempotency import json_response
from api.invoices import find_invoice
from api.payments import charge_policy
from api.payments import require_enabled_provider
from api.problems import Problem
from api.sagas import INSTALLMENT_PLANS
from api.sagas import Sagas
from api.sagas import state_from_input
from schemas.installments import CreateInstallmentPlanRequest
from schemas.installments import InstallmentPlanInput
from schemas.installments import InstallmentPlanState
from schemas.installments import build_plan_input
from schemas.invoices import InvoiceStatus
from schemas.money import format_minor
from workflows.installment_plan.workflow import filed_at_start

# What starting a plan on an invoice can answer: missing, locked or expired (checked here and
# at admission) or changed meanwhile (found at admission, under the invoice's lock).
INVOICE_PROBLEMS = ("invoice_not_found", "invoice_locked", "invoice_expired", "invoice_changed")


async def plan_input(
    sagas: Sagas, plan_id: str, body: CreateInstallmentPlanRequest
) -> InstallmentPlanInput:
    """The whole schedule: due dates, amounts, and each installment's principal, tax and
    fee. The invoice is checked here so a bad request starts nothing; admission checks it
    again under the invoice's lock."""
    if body.invoice_id is None:
        customer, currency = body.customer_id, body.currency
        components = {"principal": body.amount}
    else:
        invoice = await find_invoice(sagas.session, sagas.tenant, body.invoice_id)
        if invoice.status == InvoiceStatus.EXPIRED:
            raise Problem("invoice_expired", "the invoice expired before payment started")
        if invoice.status != InvoiceStatus.OPEN:
            raise Problem("invoice_locked", f"the invoice is {invoice.status.value}")
        customer, currency = invoice.customer_id, invoice.currency
        components = {"principal": invoice.subtotal, "tax": invoice.tax, "fee": invoice.fee}
    saved = await customers.named_method(
        sagas.session, sagas.tenant, body.customer, body.payment_method
    )
    if saved is not None:
        require_enabled_provider(sagas.settings, saved.provider)
        body = body.model_copy(update={"payment_method": saved.method_reference})
    try:
        plan = build_plan_input(
            body,
            installment_plan_id=plan_id,
            tenant_id=sagas.tenant,
            customer_id=customer,
            currency=currency,
            components=components,
            now=datetime.now(UTC),
            default_retry_days=sagas.settings.dunning_retry_days,
            charge_policy=charge_policy(sagas.settings),
        )
    except ValueError as invalid:
        raise Problem("invalid_installments", str(invalid)) from None
    return plan.model_copy(update={"saved_method": saved})


async def start_plan(sagas: Sagas, plan_id: str, body: CreateInstallmentPlanRequest) -> Response:
    """Start the plan; 201 once it is admitted and any charge due now is done."""
    plan = await plan_input(sagas, plan_id, body)

    async def accepted() -> InstallmentPlanState:
        state = state_from_input(InstallmentPlanState, plan, datetime.now(UTC))
        state.refresh_totals()
        return state

    count = len(plan.installments)
    state = await sagas.start(
        INSTALLMENT_PLANS,
        plan,
        plan_id,
        summary=f"{format_minor(plan.total, plan.currency)} in {count} installment"
        f"{'s' if count > 1 else ''}" + (f" for {plan.invoice_id}" if plan.invoice_id else ""),
        search_attributes=filed_at_start(plan),
        accepted=accepted,
    )
    return json_response(state, 201)


async def update_plan(
    sagas: Sagas, plan_id: str, update: object, argument: BaseModel | None, once: Idempotent
) -> Response:
    """``update``: an InstallmentPlanWorkflow update method, e.g. ``.pay``."""

    async def run() -> Response:
        state = await sagas.find(INSTALLMENT_PLANS, plan_id)
        if state.status.is_final:
            raise Problem("invalid_plan_state", f"the plan is {state.status.value}")
        return json_response(
            await sagas.update(INSTALLMENT_PLANS, plan_id, update, argument, once.key)
        )

    return await once.run(run, argument)
