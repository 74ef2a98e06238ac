"""Invoices: line items priced exactly, changed only while open, paid by an installment
plan (paying in full is a plan of one installment due now: one code path)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.installment_reads import plan_input, start_plan
from api.invoice_reads import (
    create_invoice,
    invoice_not_found,
    stored_invoice,
    stored_invoices,
    update_invoice,
)
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.routes.payments import IdempotencyKey, OptionalIdempotencyKey
from schemas.identity import INVOICE_ID, new_installment_plan_id, new_invoice_id
from schemas.installments import CreateInstallmentPlanRequest, InstallmentPlanState
from schemas.invoices import (
    CreateInvoiceRequest,
    Invoice,
    InvoiceList,
    PayInvoiceRequest,
    UpdateInvoiceRequest,
)

router = APIRouter(prefix="/v1/invoices", tags=["invoices"])

InvoiceIdPath = Annotated[str, Path(description="An invoice id, `inv_…`")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Invoice,
    responses=problems("invalid_amount", *IDEMPOTENCY_PROBLEMS),
)
async def create_invoice_route(
    tenant: TenantDep,
    body: CreateInvoiceRequest,
    request: Request,
    session: SessionDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    """Each line's subtotal is quantity * unit_amount and its tax is rounded half-to-even
    to the minor unit; the service fee is rounded once, on the sum of the subtotals."""

    async def create(invoice_id: str | None) -> Response:
        invoice = await run_in_threadpool(
            create_invoice, session, tenant, invoice_id or new_invoice_id(), body
        )
        return json_response(invoice, status.HTTP_201_CREATED)

    if idempotency_key is None:
        return await create(None)
    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        create,
        new_resource_id=new_invoice_id(),
    )


@router.get("", response_model=InvoiceList)
async def list_invoices(
    tenant: TenantDep,
    session: SessionDep,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> InvoiceList:
    """The tenant's invoices, newest first; `customer_id` keeps one customer's."""
    return InvoiceList(
        data=await run_in_threadpool(stored_invoices, session, tenant, customer_id, limit)
    )


@router.get("/{invoice_id}", response_model=Invoice, responses=problems("invoice_not_found"))
async def get_invoice(tenant: TenantDep, invoice_id: InvoiceIdPath, session: SessionDep) -> Invoice:
    invoice = await run_in_threadpool(stored_invoice, session, tenant, invoice_id)
    if invoice is None:
        raise invoice_not_found()
    return invoice


@router.patch(
    "/{invoice_id}",
    response_model=Invoice,
    responses=problems("invoice_not_found", "invoice_locked", "invalid_amount"),
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
        "invoice_not_found",
        "invoice_locked",
        "invoice_expired",
        "invoice_changed",
        *IDEMPOTENCY_PROBLEMS,
        "temporal_unavailable",
    ),
)
async def pay_invoice(
    tenant: TenantDep,
    invoice_id: InvoiceIdPath,
    body: PayInvoiceRequest,
    idempotency_key: IdempotencyKey,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Pay in full now: an installment plan of one installment, due at once. Answers with
    the plan once the charge is done (`completed`), or failed and in dunning (`past_due`)."""

    if not INVOICE_ID.match(invoice_id):
        raise invoice_not_found()

    async def start(plan_id: str | None) -> Response:
        plan_request = CreateInstallmentPlanRequest(
            invoice_id=invoice_id,
            payment_method=body.payment_method,
            count=1,
            interval="month",
        )
        plan = await plan_input(session, tenant, str(plan_id), plan_request, settings)
        state = await start_plan(session, temporal, settings, plan)
        return json_response(state, status.HTTP_201_CREATED)

    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        start,
        new_resource_id=new_installment_plan_id(),
    )
