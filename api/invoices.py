"""Invoices: priced exactly when created or changed, changed only while open (the SQL is
``schemas/store/invoices.py``)."""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlmodel import Session

from api.dependencies import run_transaction
from api.dependencies import transact
from api.problems import Problem
from schemas.domain.invoice_totals import invoice_totals
from schemas.identity import INVOICE_ID
from schemas.invoices import CreateInvoiceRequest
from schemas.invoices import Invoice
from schemas.invoices import InvoiceStatus
from schemas.invoices import LineItem
from schemas.invoices import LineItemInput
from schemas.invoices import UpdateInvoiceRequest
from schemas.money import MAX_AMOUNT_MINOR
from schemas.money import format_minor
from schemas.store.invoices import insert_invoice
from schemas.store.invoices import locked_invoice
from schemas.store.invoices import stored_invoice
from schemas.store.invoices import with_expiry
from schemas.store.invoices import write_invoice
from schemas.store.quotas import enforce_quota
from schemas.tenants import TenantQuotas


def priced(items: list[LineItemInput], service_fee_rate: str, currency: str) -> dict:
    """The invoice's lines and totals; 422 ``invalid_amount`` outside (0, MAX]."""
    totals = invoice_totals(
        [(i.quantity, i.unit_amount, i.tax_rate) for i in items], service_fee_rate
    )
    if not 0 < totals.total <= MAX_AMOUNT_MINOR:
        raise Problem(
            "invalid_amount",
            f"the invoice total must be greater than 0 and at most "
            f"{format_minor(MAX_AMOUNT_MINOR, currency)}",
        )
    lines = [
        LineItem(**item.model_dump(), subtotal=line.subtotal, tax=line.tax)
        for item, line in zip(items, totals.lines, strict=True)
    ]
    return {
        "line_items": lines,
        "service_fee_rate": service_fee_rate,
        "subtotal": totals.subtotal,
        "tax": totals.tax,
        "fee": totals.fee,
        "total": totals.total,
    }


def create_invoice(
    session: Session,
    tenant: str,
    invoice_id: str,
    body: CreateInvoiceRequest,
    quotas: TenantQuotas,
) -> Invoice:
    """Store the invoice; a retry under the same id (Idempotency-Key) finds it stored. A
    tenant at its quota of invoices gets 409 ``quota_exceeded``."""
    pricing = priced(body.line_items, body.service_fee_rate, body.currency)
    now = datetime.now(UTC)
    invoice = Invoice(
        **body.model_dump(include={"customer_id", "currency", "due_at", "expires_at"}),
        **pricing,
        invoice_id=invoice_id,
        tenant_id=tenant,
        status=InvoiceStatus.OPEN,
        created_at=now,
        updated_at=now,
    )
    return transact(session, _insert_invoice, invoice, quotas)


def _insert_invoice(connection: Connection, invoice: Invoice, quotas: TenantQuotas) -> Invoice:
    enforce_quota(connection, invoice.tenant_id, "invoices", quotas, invoice.invoice_id)
    return insert_invoice(connection, invoice)


def update_invoice(
    session: Session, tenant: str, invoice_id: str, body: UpdateInvoiceRequest
) -> Invoice:
    """Under the invoice's row lock: a plan that starts meanwhile either sees the change
    (and its totals) or has locked the invoice first, and this answers 409."""
    if not INVOICE_ID.match(invoice_id):
        raise Problem("invoice_not_found")
    with session.begin():
        invoice = locked_invoice(session.connection(), tenant, invoice_id)
        if invoice is None:
            raise Problem("invoice_not_found")
        if invoice.locked_at is not None or invoice.status != InvoiceStatus.OPEN:
            raise Problem("invoice_locked", f"the invoice is {invoice.status.value}")
        changed = body.model_dump(exclude_unset=True)
        items = body.line_items or [LineItemInput(**i.model_dump()) for i in invoice.line_items]
        fee_rate = body.service_fee_rate or invoice.service_fee_rate
        fields = invoice.model_dump() | {
            key: value for key, value in changed.items() if key in ("due_at", "expires_at")
        }
        try:
            updated = Invoice.model_validate(
                fields | priced(items, fee_rate, invoice.currency)
            ).model_copy(update={"updated_at": datetime.now(UTC)})
        except ValueError as invalid:  # expires_at no longer after due_at
            raise Problem("validation_error", str(invalid)) from None
        write_invoice(session.connection(), updated)
    return with_expiry(updated)


async def find_invoice(session: Session, tenant: str, invoice_id: str) -> Invoice:
    """The invoice as a reader sees it (``expired`` once it is late), or 404."""
    invoice = None
    if INVOICE_ID.match(invoice_id):
        invoice = await run_transaction(session, stored_invoice, tenant, invoice_id)
    if invoice is None:
        raise Problem("invoice_not_found")
    return invoice
