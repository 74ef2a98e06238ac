"""Installment plans in SQL: admission (the invoice is locked in the transaction that
stores the plan) and the read model, written with the invoice's payment progress.

Admission takes the invoice's row lock (``SELECT … FOR UPDATE``; SQLite's ``BEGIN
IMMEDIATE`` serializes every writer): two plans racing for one invoice cannot both see it
unlocked, and a PATCH racing a plan either lands before (the plan's totals then disagree:
``invoice_changed``) or finds the invoice locked.
"""

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select, update
from temporalio import activity

from activities.ledger import rejected
from schemas.installments import InstallmentPlanInput, InstallmentPlanState, InstallmentPlanStatus
from schemas.invoices import Invoice, InvoiceStatus
from schemas.store.database import as_utc
from schemas.store.read_model import upsert_newer
from schemas.store.tables import InstallmentPlanRecord, InvoiceRecord

# What the invoice says while its plan is in each state. A completed plan has every
# installment paid or waived: the invoice is ``paid`` (amount_paid says how much money).
INVOICE_STATUS = {
    InstallmentPlanStatus.ACTIVE: InvoiceStatus.IN_PAYMENT,
    InstallmentPlanStatus.PAST_DUE: InvoiceStatus.IN_PAYMENT,
    InstallmentPlanStatus.DEFAULTED: InvoiceStatus.DEFAULTED,
    InstallmentPlanStatus.COMPLETED: InvoiceStatus.PAID,
    InstallmentPlanStatus.CANCELED: InvoiceStatus.CANCELED,
}


class InstallmentActivities:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn
    def admit_installment_plan(self, plan: InstallmentPlanInput) -> InstallmentPlanState:
        """Store the plan and lock its invoice, or raise ``Rejected`` (nothing written)."""
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            existing = stored_plan(connection, plan.tenant_id, plan.installment_plan_id)
            if existing is not None:
                return existing  # a retry of an attempt that committed
            if plan.invoice_id is not None:
                _lock_invoice(connection, plan, now)
            state = InstallmentPlanState(
                **plan.model_dump(
                    include={
                        "installment_plan_id",
                        "tenant_id",
                        "customer_id",
                        "currency",
                        "total",
                        "invoice_id",
                        "description",
                    }
                ),
                installments=plan.installments,
                next_charge_at=plan.installments[0].due_at,
                created_at=now,
                updated_at=now,
            )
            state.refresh_totals()
            upsert_plan(connection, state)
            return state

    @activity.defn
    def record_installment_plan(self, state: InstallmentPlanState) -> None:
        """The plan's read model and its invoice's amount_paid and status, together."""
        with self._engine.begin() as connection:
            if state.invoice_id is not None:
                _update_invoice(connection, state)
            upsert_plan(connection, state)


def _lock_invoice(connection: Connection, plan: InstallmentPlanInput, now: datetime) -> None:
    invoice = locked_invoice(connection, plan.tenant_id, plan.invoice_id)
    if invoice is None:
        raise rejected("invoice_not_found", "No such invoice")
    if invoice.locked_at is not None or invoice.status != InvoiceStatus.OPEN:
        raise rejected(
            "invoice_locked", f"the invoice is {invoice.status.value}: payment has started"
        )
    if invoice.expires_at is not None and as_utc(invoice.expires_at) <= now:
        raise rejected("invoice_expired", "the invoice expired before payment started")
    planned = {
        name: sum(getattr(i, name) for i in plan.installments)
        for name in ("principal", "tax", "fee")
    }
    invoiced = {"principal": invoice.subtotal, "tax": invoice.tax, "fee": invoice.fee}
    if planned != invoiced or plan.currency != invoice.currency:
        raise rejected("invoice_changed", "the invoice changed while the plan was made: retry")
    invoice.status = InvoiceStatus.IN_PAYMENT
    invoice.locked_at = now
    invoice.installment_plan_id = plan.installment_plan_id
    invoice.updated_at = max(as_utc(invoice.updated_at), now)
    write_invoice(connection, invoice)


def _update_invoice(connection: Connection, state: InstallmentPlanState) -> None:
    invoice = locked_invoice(connection, state.tenant_id, state.invoice_id)
    # Only the plan that locked it, and never with an older state than the stored one.
    if invoice is None or invoice.installment_plan_id != state.installment_plan_id:
        return
    if as_utc(invoice.updated_at) > state.updated_at or state.status not in INVOICE_STATUS:
        return
    invoice.status = INVOICE_STATUS[state.status]
    invoice.amount_paid = state.amount_paid
    invoice.updated_at = state.updated_at
    write_invoice(connection, invoice)


def locked_invoice(connection: Connection, tenant_id: str, invoice_id: str) -> Invoice | None:
    """The invoice, its row locked until the transaction ends."""
    invoice_json = connection.execute(
        select(InvoiceRecord.invoice_json)
        .where(InvoiceRecord.invoice_id == invoice_id, InvoiceRecord.tenant_id == tenant_id)
        .with_for_update()
    ).scalar_one_or_none()
    return Invoice.model_validate_json(invoice_json) if invoice_json else None


def write_invoice(connection: Connection, invoice: Invoice) -> None:
    connection.execute(
        update(InvoiceRecord)
        .where(InvoiceRecord.invoice_id == invoice.invoice_id)
        .values(**invoice_columns(invoice))
    )


def invoice_columns(invoice: Invoice) -> dict:
    """Every column but the key; the stored status is never the computed ``expired``."""
    status = InvoiceStatus.OPEN if invoice.status == InvoiceStatus.EXPIRED else invoice.status
    stored = invoice.model_copy(update={"status": status})
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


def stored_plan(
    connection: Connection, tenant_id: str, installment_plan_id: str
) -> InstallmentPlanState | None:
    state_json = connection.execute(
        select(InstallmentPlanRecord.state_json).where(
            InstallmentPlanRecord.installment_plan_id == installment_plan_id,
            InstallmentPlanRecord.tenant_id == tenant_id,
        )
    ).scalar_one_or_none()
    return InstallmentPlanState.model_validate_json(state_json) if state_json else None


def upsert_plan(connection: Connection, state: InstallmentPlanState) -> None:
    row = {
        "installment_plan_id": state.installment_plan_id,
        "tenant_id": state.tenant_id,
        "customer_id": state.customer_id,
        "invoice_id": state.invoice_id,
        "status": state.status.value,
        "currency": state.currency,
        "total": state.total,
        "amount_paid": state.amount_paid,
        "state_json": state.model_dump_json(),
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    upsert_newer(connection, InstallmentPlanRecord.__table__, "installment_plan_id", row)
