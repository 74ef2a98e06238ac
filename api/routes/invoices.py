"""Invoices: line items priced exactly, changed only while open, paid by an installment
plan (paying in full is a plan of one installment due now: one code path)."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Response
from fastapi import status
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.customers import SAVED_METHOD_PROBLEMS
from api.dependencies import IdempotentDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import run_transaction
from api.idempotency import json_response
from api.installment_plans import INVOICE_PROBLEMS
from api.installment_plans import start_plan
from api.invoices import create_invoice
from api.invoices import find_invoice
from api.invoices import update_invoice
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.problems import Problem
from api.query_parameters import CustomerFilter
from api.query_parameters import PageSize
from api.sagas import SagasDep
from schemas.identity import INVOICE_ID
from schemas.identity import new_installment_plan_id
from schemas.identity import new_invoice_id
from schemas.installments import CreateInstallmentPlanRequest
from schemas.installments import InstallmentPlanState
from schemas.invoices import CreateInvoiceRequest
from schemas.invoices import Invoice
from schemas.invoices import InvoiceList
from schemas.invoices import PayInvoiceRequest
from schemas.invoices import UpdateInvoiceRequest
from schemas.store.invoices import newest_invoices

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

InvoiceIdPath = Annotated[str, Path(description="An invoice id, `inv_…`")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Invoice,
    responses=problems("invalid_amount", "quota_exceeded", *IDEMPOTENCY_PROBLEMS),
)
async def create_invoice_route(
    tenant: TenantDep,
    body: CreateInvoiceRequest,
    session: SessionDep,
    once: OptionallyIdempotentDep,
    settings: SettingsDep,
) -> Response:
    """Each line's subtotal is quantity * unit_amount and its tax is rounded half-to-even
    to the minor unit; the service fee is rounded once, on the sum of the subtotals. A
    tenant at its quota of invoices gets 409 `quota_exceeded`."""

    async def create(invoice_id: str) -> Response:
        invoice = await run_in_threadpool(
            create_invoice, session, tenant, invoice_id, body, settings.quotas
        )
        return json_response(invoice, status.HTTP_201_CREATED)

    return await once.create(create, body, new_invoice_id)


@router.get("")
async def list_invoices(
    tenant: TenantDep,
    session: SessionDep,
    customer_id: CustomerFilter = None,
    limit: PageSize = 100,
) -> InvoiceList:
    """The tenant's invoices, newest first; `customer_id` keeps one customer's."""
    return InvoiceList(
        data=await run_transaction(session, newest_invoices, tenant, customer_id, limit)
    )


@router.get("/{invoice_id}", responses=problems("invoice_not_found"))
async def get_invoice(tenant: TenantDep, invoice_id: InvoiceIdPath, session: SessionDep) -> Invoice:
    return await find_invoice(session, tenant, invoice_id)


@router.patch(
    "/{invoice_id}", responses=problems("invoice_not_found", "invoice_locked", "invalid_amount")
)
async def patch_invoice(
    tenant: TenantDep, invoice_id: InvoiceIdPath, body: UpdateInvoiceRequest, session: SessionDep
) -> Invoice:
    """Replace line items, dates or the fee rate while the invoice is open; once payment
    has started it is immutable (409 `invoice_locked`)."""
    return await run_in_threadpool(update_invoice, session, tenant, invoice_id, body)


@router.post(
    "/{invoice_id}/pay",
    status_code=status.HTTP_201_CREATED,
    response_model=InstallmentPlanState,
    responses=problems(
        *INVOICE_PROBLEMS, *SAVED_METHOD_PROBLEMS, *IDEMPOTENCY_PROBLEMS, "temporal_unavailable"
    ),
)
async def pay_invoice(
    invoice_id: InvoiceIdPath, body: PayInvoiceRequest, once: IdempotentDep, sagas: SagasDep
) -> Response:
    """Pay in full now: an installment plan of one installment, due at once. Answers with
    the plan once the charge is done (`completed`), or failed and in dunning (`past_due`)."""

    if not INVOICE_ID.match(invoice_id):
        raise Problem("invoice_not_found")

    async def start(plan_id: str) -> Response:
        plan_request = CreateInstallmentPlanRequest(
            invoice_id=invoice_id,
            payment_method=body.payment_method,
            customer=body.customer,
            count=1,
            interval="month",
        )
        return await start_plan(sagas, plan_id, plan_request)

    return await once.create(start, body, new_installment_plan_id)
