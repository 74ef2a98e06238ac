"""What the email tests start from, written as the sagas write it: a tenant's email
settings, a customer, and read-model changes whose events (``ReadModel.upsert``) the
emails are made from."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine

from schemas.email import EmailDeliveryInput
from schemas.email import EmailKind
from schemas.email import EmailSettingsRequest
from schemas.events import Event
from schemas.identity import email_id
from schemas.identity import new_customer_id
from schemas.identity import new_payment_id
from schemas.identity import new_plan_id
from schemas.identity import new_refund_id
from schemas.identity import new_subscription_id
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.refunds import RefundState
from schemas.refunds import RefundStatus
from schemas.store import emails
from schemas.store.customers import insert_customer
from schemas.store.events import page_events
from schemas.store.read_model import PAYMENTS
from schemas.store.read_model import REFUNDS
from schemas.store.read_model import SUBSCRIPTIONS
from schemas.subscriptions import BillingPeriod
from schemas.subscriptions import Plan
from schemas.subscriptions import SubscriptionState
from schemas.subscriptions import SubscriptionStatus

TENANT = "ten_mail"
SHOP = EmailSettingsRequest(
    sender_address="billing@shop.example",
    sender_name="Corner Shop",
    reply_to="help@shop.example",
    logo_url="https://shop.example/logo.png",
    notification_address="ops@shop.example",
)


def configure(engine: Engine, body: EmailSettingsRequest = SHOP, tenant: str = TENANT):
    with engine.begin() as connection:
        return emails.put_settings(connection, tenant, body, datetime.now(UTC))


def customer(engine: Engine, address: str | None = "ada@customer.example", tenant=TENANT) -> str:
    now = datetime.now(UTC)
    row = {
        "customer_id": new_customer_id(),
        "tenant_id": tenant,
        "name": "Ada",
        "email": address,
        "description": None,
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as connection:
        return insert_customer(connection, row).customer_id


def succeeded_payment(
    engine: Engine, customer_id: str, amount: int = 1999, description: str | None = None
) -> PaymentState:
    now = datetime.now(UTC)
    payment = PaymentState(
        payment_id=new_payment_id(),
        tenant_id=TENANT,
        status=PaymentStatus.SUCCEEDED,
        amount=amount,
        captured_amount=amount,
        currency="EUR",
        customer_id=customer_id,
        provider="sandbox",
        capture_method="automatic",
        description=description,
        provider_reference="ch_internal_reference",
        card_fingerprint="fp_internal_fingerprint",
        created_at=now,
        updated_at=now,
    )
    with engine.begin() as connection:
        PAYMENTS.upsert(connection, payment)
    return payment


def succeeded_refund(engine: Engine, payment: PaymentState, amount: int) -> RefundState:
    now = datetime.now(UTC)
    refund = RefundState(
        refund_id=new_refund_id(),
        tenant_id=TENANT,
        payment_id=payment.payment_id,
        status=RefundStatus.SUCCEEDED,
        amount=amount,
        currency=payment.currency,
        provider="sandbox",
        created_at=now,
        updated_at=now,
    )
    with engine.begin() as connection:
        REFUNDS.upsert(connection, refund)
    return refund


def past_due_subscription(
    engine: Engine, customer_id: str, retry_in: timedelta, now: datetime | None = None
) -> SubscriptionState:
    """Active, then past due after a failed charge of its first period (two changes: the
    second's events include ``subscription.payment_failed``)."""
    now = now or datetime.now(UTC)
    plan = Plan(
        plan_id=new_plan_id(),
        name="Coffee club",
        amount=1500,
        currency="EUR",
        interval="month",
        created_at=now,
    )
    active = SubscriptionState(
        subscription_id=new_subscription_id(),
        tenant_id=TENANT,
        customer_id=customer_id,
        plan=plan,
        status=SubscriptionStatus.ACTIVE,
        start_at=now,
        anchor=now,
        created_at=now,
        updated_at=now,
    )
    failed = active.model_copy(
        update={
            "status": SubscriptionStatus.PAST_DUE,
            "next_retry_at": now + retry_in,
            "periods": [
                BillingPeriod(
                    index=0, start=now, end=now + timedelta(days=30), status="past_due", amount=1500
                )
            ],
            "updated_at": now + timedelta(seconds=1),
        }
    )
    with engine.begin() as connection:
        SUBSCRIPTIONS.upsert(connection, active)
        SUBSCRIPTIONS.upsert(connection, failed)
    return failed


def set_subscription(engine: Engine, state: SubscriptionState, **changes) -> SubscriptionState:
    changed = state.model_copy(
        update={**changes, "updated_at": state.updated_at + timedelta(seconds=1)}
    )
    with engine.begin() as connection:
        SUBSCRIPTIONS.upsert(connection, changed)
    return changed


def event_of(engine: Engine, object_id: str, event_type: str, tenant: str = TENANT) -> Event:
    with engine.connect() as connection:
        events, _ = page_events(connection, tenant, 10, event_type=event_type, object_id=object_id)
    assert len(events) == 1, f"one {event_type} of {object_id}"
    return events[0]


def email_of(event: Event, kind: EmailKind, tenant: str = TENANT) -> EmailDeliveryInput:
    return EmailDeliveryInput(
        tenant_id=tenant, email_id=email_id(event.id, kind), event_id=event.id, kind=kind
    )


def stored(engine: Engine, email: EmailDeliveryInput):
    with engine.connect() as connection:
        return emails.get_message(connection, email.tenant_id, email.email_id)
