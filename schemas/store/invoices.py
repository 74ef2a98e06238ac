"""Invoices in SQL: created and changed by the API while open, locked and paid through by
their installment plan's saga (under the invoice's row lock).

``expired`` is computed on read (``expires_at`` passed, no payment started): nothing has to
wake up to expire an invoice, and a stored ``open`` row reads ``expired`` once it is late.

Every function runs in the caller's transaction (the API passes ``session.connection()``).
"""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy import update

from schemas.invoices import Invoice
from schemas.invoices import InvoiceStatus
from schemas.store.database import dialect_insert
from schemas.store.events import record_change
from schemas.store.tables import InvoiceRecord

_INVOICES = InvoiceRecord.__table__


def stored_invoice(connection: Connection, tenant_id: str, invoice_id: str) -> Invoice | None:
    """The invoice as a reader sees it: ``expired`` once it is late."""
    invoice = _invoice(connection, tenant_id, invoice_id, lock=False)
    return with_expiry(invoice) if invoice else None


def locked_invoice(connection: Connection, tenant_id: str, invoice_id: str) -> Invoice | None:
    """The invoice as stored (never ``expired``), its row locked until the transaction ends:
    for a writer, which decides on the stored status and the expiry itself."""
    return _invoice(connection, tenant_id, invoice_id, lock=True)


def newest_invoices(
    connection: Connection, tenant_id: str, customer_id: str | None, limit: int
) -> list[Invoice]:
    columns = _INVOICES.c
    query = select(columns.invoice_json).where(columns.tenant_id == tenant_id)
    if customer_id is not None:
        query = query.where(columns.customer_id == customer_id)
    query = query.order_by(columns.created_at.desc(), columns.invoice_id).limit(limit)
    rows = connection.execute(query).scalars()
    return [with_expiry(Invoice.model_validate_json(row)) for row in rows]


def insert_invoice(connection: Connection, invoice: Invoice) -> Invoice:
    """Store a new invoice; a retry under the same id (its Idempotency-Key) finds the one
    stored the first time."""
    statement = (
        dialect_insert(connection.dialect.name, _INVOICES)
        .on_conflict_do_nothing(index_elements=["invoice_id"])
        .returning(_INVOICES.c.invoice_id)
    )
    row = {"invoice_id": invoice.invoice_id, **_columns(invoice)}
    if connection.execute(statement, row).first() is not None:
        record_change(
            connection, "invoice", invoice.invoice_id, None, _stored(invoice), row["invoice_json"]
        )
        return with_expiry(invoice)
    stored = stored_invoice(connection, invoice.tenant_id, invoice.invoice_id)
    assert stored is not None, "an invoice with this id exists"
    return stored


def write_invoice(connection: Connection, invoice: Invoice) -> None:
    """Store the change, and its events (``invoice.paid``, …) in the same transaction."""
    key = _INVOICES.c.invoice_id == invoice.invoice_id
    previous = connection.execute(select(_INVOICES.c.status).where(key).with_for_update()).scalar()
    columns = _columns(invoice)
    connection.execute(update(_INVOICES).where(key).values(**columns))
    if previous is not None:
        record_change(
            connection,
            "invoice",
            invoice.invoice_id,
            previous,
            _stored(invoice),
            columns["invoice_json"],
        )


def _invoice(connection: Connection, tenant_id: str, invoice_id: str, lock: bool) -> Invoice | None:
    query = select(_INVOICES.c.invoice_json).where(
        _INVOICES.c.invoice_id == invoice_id, _INVOICES.c.tenant_id == tenant_id
    )
    invoice_json = connection.execute(query.with_for_update() if lock else query).scalar()
    return Invoice.model_validate_json(invoice_json) if invoice_json else None


def with_expiry(invoice: Invoice) -> Invoice:
    late = invoice.expires_at is not None and invoice.expires_at <= datetime.now(UTC)
    if invoice.status == InvoiceStatus.OPEN and late:
        return invoice.model_copy(update={"status": InvoiceStatus.EXPIRED})
    return invoice


def _stored(invoice: Invoice) -> Invoice:
    """What is stored: never the computed ``expired``."""
    if invoice.status == InvoiceStatus.EXPIRED:
        return invoice.model_copy(update={"status": InvoiceStatus.OPEN})
    return invoice


def _columns(invoice: Invoice) -> dict:
    """Every column but the key."""
    stored = _stored(invoice)
    status = stored.status
    return {
        "tenant_id": invoice.tenant_id,
        "customer_id": invoice.customer_id,
        "status": status.value,
        "currency": invoice.currency,
        "total": invoice.total,
        "amount_paid": invoice.amount_paid,
        "due_at": invoice.due_at,
        "expires_at": invoice.expires_at,
        "locked_at": invoice.locked_at,
        "installment_plan_id": invoice.installment_plan_id,
        "invoice_json": stored.model_dump_json(),
        "created_at": invoice.created_at,
        "updated_at": invoice.updated_at,
    }
