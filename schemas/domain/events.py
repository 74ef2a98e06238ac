"""Which events a state change makes: pure, from the status stored before the change
(None: the object is new) and the state written now."""

from collections.abc import Callable

from schemas.disputes import DisputeStatus
from schemas.installments import InstallmentPlanStatus
from schemas.invoices import InvoiceStatus
from schemas.payments import PaymentStatus
from schemas.payouts import PayoutStatus
from schemas.refunds import RefundStatus
from schemas.subscriptions import SubscriptionStatus

_PAYMENT = {
    PaymentStatus.SUCCEEDED: "payment.succeeded",
    PaymentStatus.DECLINED: "payment.failed",
    PaymentStatus.FAILED: "payment.failed",
    PaymentStatus.EXPIRED: "payment.failed",
    PaymentStatus.REQUIRES_ACTION: "payment.requires_action",
    PaymentStatus.REQUIRES_CAPTURE: "payment.requires_capture",
    PaymentStatus.CANCELED: "payment.canceled",
    PaymentStatus.IN_REVIEW: "payment.in_review",
}
_REFUND = {RefundStatus.SUCCEEDED: "refund.succeeded", RefundStatus.FAILED: "refund.failed"}
_PAYOUT = {PayoutStatus.SUCCEEDED: "payout.paid", PayoutStatus.FAILED: "payout.failed"}
_PLAN_MILESTONES = {
    InstallmentPlanStatus.PAST_DUE: "installment_plan.payment_failed",
    InstallmentPlanStatus.COMPLETED: "installment_plan.completed",
    InstallmentPlanStatus.CANCELED: "installment_plan.canceled",
}
_INVOICE_MILESTONES = {
    InvoiceStatus.PAID: "invoice.paid",
    InvoiceStatus.DEFAULTED: "invoice.payment_failed",
    InvoiceStatus.CANCELED: "invoice.canceled",
}
_SUBSCRIPTION_FAILED = (SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID)


def _on_status(table: dict[str, str]) -> Callable[[str | None, str], list[str]]:
    def events(previous: str | None, status: str) -> list[str]:
        return [table[status]] if status in table and status != previous else []

    return events


def _subscription(previous: str | None, status: str) -> list[str]:
    if previous is None:
        return ["subscription.created"]
    if status == previous:
        return []
    if status == SubscriptionStatus.CANCELED:
        return ["subscription.canceled"]
    events = ["subscription.updated"]
    if status in _SUBSCRIPTION_FAILED and previous not in _SUBSCRIPTION_FAILED:
        events.append("subscription.payment_failed")
    return events


def _installment_plan(previous: str | None, status: str) -> list[str]:
    if previous is None:
        return ["installment_plan.created"]
    if status == previous:
        return []
    return [_PLAN_MILESTONES.get(status, "installment_plan.updated")]


def _invoice(previous: str | None, status: str) -> list[str]:
    if previous is None:
        return ["invoice.created"]
    if status == previous:
        return []
    return [_INVOICE_MILESTONES.get(status, "invoice.updated")]


def _dispute(previous: str | None, status: str) -> list[str]:
    if previous is None:
        return ["dispute.created"]
    if status == previous:
        return []
    return ["dispute.closed" if DisputeStatus(status).is_final else "dispute.updated"]


# By the object type an event names (``payment``, ``refund``, …).
EVENTS_OF_CHANGE: dict[str, Callable[[str | None, str], list[str]]] = {
    "payment": _on_status(_PAYMENT),
    "refund": _on_status(_REFUND),
    "payout": _on_status(_PAYOUT),
    "subscription": _subscription,
    "installment_plan": _installment_plan,
    "dispute": _dispute,
    "invoice": _invoice,
}
