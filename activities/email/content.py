"""What each kind of email says and to whom, read from the event's object and our records:
the payment's, refund's or subscription's customer (``customers.email``), or for the
tenant's own notices its ``notification_address``."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from activities.email.render import shown_date
from schemas.email import EmailKind
from schemas.email import EmailSettings
from schemas.events import Event
from schemas.money import format_minor
from schemas.payments import PaymentState
from schemas.refunds import RefundState
from schemas.store.customers import get_customer
from schemas.store.read_model import PAYMENTS
from schemas.store.read_model import SUBSCRIPTIONS
from schemas.subscriptions import SubscriptionState
from schemas.subscriptions import SubscriptionStatus


@dataclass(frozen=True)
class Composed:
    recipient: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Skipped:
    """Nothing to send, for good: ``reason`` is recorded with the email."""

    reason: str


def compose(
    connection: Connection, settings: EmailSettings, kind: EmailKind, event: Event
) -> Composed | Skipped:
    tenant = settings.tenant_id
    state = event.data.get("object", {})
    if kind == "payment_receipt":
        payment = PaymentState.model_validate(state)
        fields = {
            "amount": format_minor(payment.captured_amount or payment.amount, payment.currency),
            "description": payment.description,
            "date": shown_date(payment.updated_at),
            "payment_id": payment.payment_id,
        }
        return _to_customer(connection, tenant, payment.customer_id, fields)
    if kind == "refund_receipt":
        refund = RefundState.model_validate(state)
        paid = PAYMENTS.get(connection, tenant, refund.payment_id)
        if paid is None:
            return Skipped("no_recipient")
        fields = {
            "amount": format_minor(refund.amount, refund.currency),
            "date": shown_date(refund.updated_at),
            "payment_id": refund.payment_id,
            "refund_id": refund.refund_id,
        }
        return _to_customer(connection, tenant, paid.customer_id, fields)
    if kind == "dunning_failed":
        return _dunning(connection, SubscriptionState.model_validate(state))
    if kind == "dunning_reminder":
        # As it is now, not as it was when the charge failed: the reminder announces the
        # retry still to come, and none once the subscription is paid or over.
        now = SUBSCRIPTIONS.get(connection, tenant, event.object_id)
        if now is None or now.status != SubscriptionStatus.PAST_DUE or not now.next_retry_at:
            return Skipped("not_past_due")
        return _dunning(connection, now)
    if kind == "endpoint_disabled":
        if not settings.notification_address:
            return Skipped("no_recipient")
        fields = {
            "endpoint_id": event.object_id,
            "endpoint_url": str(state.get("url", "")),
            "reason": state.get("disabled_reason"),
        }
        return Composed(settings.notification_address, fields)
    raise ValueError(f"no email of kind {kind}")


def _dunning(connection: Connection, subscription: SubscriptionState) -> Composed | Skipped:
    failed = [p for p in subscription.periods if p.status == "past_due"]
    amount = failed[-1].amount if failed else subscription.plan.amount
    fields = {
        "amount": format_minor(amount, subscription.plan.currency),
        "plan_name": subscription.plan.name,
        "next_retry": shown_date(subscription.next_retry_at)
        if subscription.next_retry_at
        else None,
        "subscription_id": subscription.subscription_id,
    }
    return _to_customer(connection, subscription.tenant_id, subscription.customer_id, fields)


def _to_customer(
    connection: Connection, tenant_id: str, customer_id: str, fields: dict[str, Any]
) -> Composed | Skipped:
    """To the customer the object names, when it is one of ours (``cust_…``) with an
    address; a client's own customer id finds none."""
    customer = get_customer(connection, tenant_id, customer_id)
    if customer is None or not customer.email:
        return Skipped("no_recipient")
    return Composed(customer.email, fields)
