"""Invoices in SQL: priced exactly when created or changed, changed only while open.

``expired`` is computed on read (``expires_at`` passed, no payment started): nothing has to
wake up to expire an invoice, and a stored ``open`` row reads ``expired`` once it is late.
"""

from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from activities.installments import invoice_columns, locked_invoice, write_invoice
from api.problems import Problem
from schemas.domain.invoice_totals import invoice_totals
from schemas.identity import INVOICE_ID
from schemas.invoices import (
    CreateInvoiceRequest,
    Invoice,
    InvoiceStatus,
    LineItem,
    LineItemInput,
    UpdateInvoiceRequest,
)
from schemas.money import MAX_AMOUNT_MINOR, format_minor
from schemas.store.tables import InvoiceRecord


def invoice_not_found() -> Problem:
    return Problem(404, "invoice_not_found", "No such invoice")


def priced(items: list[LineItemInput], service_fee_rate: str, currency: str) -> dict:
    """The invoice's lines and totals; 422 ``invalid_amount`` outside (0, MAX]."""
    totals = invoice_totals(
        [(i.quantity, i.unit_amount, i.tax_rate) for i in items], service_fee_rate
    )
    if not 0 < totals.total <= MAX_AMOUNT_MINOR:
        raise Problem(
            422,
            "invalid_amount",
            "Request is invalid",
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
    session: Session, tenant: str, invoice_id: str, body: CreateInvoiceRequest
) -> Invoice:
    """Store the invoice; a retry under the same id (Idempotency-Key) finds it stored."""
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
    try:
        with session.begin():
            session.add(InvoiceRecord(invoice_id=invoice_id, **invoice_columns(invoice)))
    except IntegrityError:
        existing = stored_invoice(session, tenant, invoice_id)
        if existing is None:
            raise
        return existing
    return with_expiry(invoice)


def update_invoice(
    session: Session, tenant: str, invoice_id: str, body: UpdateInvoiceRequest
) -> Invoice:
    """Under the invoice's row lock: a plan that starts meanwhile either sees the change
    (and its totals) or has locked the invoice first, and this answers 409."""
    if not INVOICE_ID.match(invoice_id):
        raise invoice_not_found()
    with session.begin():
        invoice = locked_invoice(session.connection(), tenant, invoice_id)
        if invoice is None:
            raise invoice_not_found()
        if invoice.locked_at is not None or invoice.status != InvoiceStatus.OPEN:
            raise Problem(
                409,
                "invoice_locked",
                "The invoice cannot change once payment has started",
                f"the invoice is {invoice.status.value}",
            )
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
            raise Problem(422, "validation_error", "Request is invalid", str(invalid)) from None
        write_invoice(session.connection(), updated)
    return with_expiry(updated)


def stored_invoice(session: Session, tenant: str, invoice_id: str) -> Invoice | None:
    if not INVOICE_ID.match(invoice_id):
        return None
    with session.begin():
        invoice_json = session.exec(
            select(InvoiceRecord.invoice_json).where(
                InvoiceRecord.invoice_id == invoice_id, InvoiceRecord.tenant_id == tenant
            )
        ).first()
    return with_expiry(Invoice.model_validate_json(invoice_json)) if invoice_json else None


def stored_invoices(
    session: Session, tenant: str, customer_id: str | None, limit: int
) -> list[Invoice]:
    """Newest first."""
    query = select(InvoiceRecord.invoice_json).where(InvoiceRecord.tenant_id == tenant)
    if customer_id is not None:
        query = query.where(InvoiceRecord.customer_id == customer_id)
    query = query.order_by(InvoiceRecord.created_at.desc(), InvoiceRecord.invoice_id).limit(limit)
    with session.begin():
        rows = session.exec(query).all()
    return [with_expiry(Invoice.model_validate_json(row)) for row in rows]


def with_expiry(invoice: Invoice) -> Invoice:
    late = invoice.expires_at is not None and invoice.expires_at <= datetime.now(UTC)
    if invoice.status == InvoiceStatus.OPEN and late:
        return invoice.model_copy(update={"status": InvoiceStatus.EXPIRED})
    return invoice
