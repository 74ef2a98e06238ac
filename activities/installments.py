"""Installment plans in SQL: admission (the invoice is locked in the transaction that
stores the plan) and the read model, written with the invoice's payment progress.

Admission takes the invoice's row lock (``SELECT … FOR UPDATE``; SQLite's ``BEGIN
IMMEDIATE`` serializes every writer): two plans racing for one invoice cannot both see it
unlocked, and a PATCH racing a plan either lands before (the plan's totals then disagree:
``invoice_changed``) or finds the invoice locked.
"""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import Engine
from temporalio import activity

from activities.admission import admitted_state
from activities.admission import rejected
from schemas.installments import InstallmentPlanInput
from schemas.installments import InstallmentPlanState
from schemas.installments import InstallmentPlanStatus
from schemas.invoices import InvoiceStatus
from schemas.store.database import as_utc
from schemas.store.invoices import locked_invoice
from schemas.store.invoices import write_invoice
from schemas.store.read_model import INSTALLMENT_PLANS

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
            existing = INSTALLMENT_PLANS.get(connection, plan.tenant_id, plan.installment_plan_id)
            if existing is not None:
                return existing  # a retry of an attempt that committed
            if plan.invoice_id is not None:
                _lock_invoice(connection, plan, now)
            state = admitted_state(
                InstallmentPlanState, plan, now, next_charge_at=plan.installments[0].due_at
            )
            state.refresh_totals()
            INSTALLMENT_PLANS.upsert(connection, state)
            return state

    @activity.defn
    def record_installment_plan(self, state: InstallmentPlanState) -> None:
        """The plan's read model and its invoice's amount_paid and status, together."""
        with self._engine.begin() as connection:
            if state.invoice_id is not None:
                _update_invoice(connection, state)
            INSTALLMENT_PLANS.upsert(connection, state)


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
