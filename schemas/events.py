"""Events: one immutable record of each change a merchant cares about, holding the object's
state as of that change. Written in the transaction of the change (``schemas.store.events``),
listed at ``GET /v1/events`` and pushed to webhook endpoints by delivery sagas."""

from datetime import datetime
from typing import Any
from typing import Literal

from pydantic import BaseModel

PAYMENT_EVENTS = (
    "payment.succeeded",
    "payment.failed",
    "payment.requires_action",
    "payment.requires_capture",
    "payment.canceled",
    "payment.in_review",
)
REFUND_EVENTS = ("refund.succeeded", "refund.failed")
PAYOUT_EVENTS = ("payout.paid", "payout.failed")
SUBSCRIPTION_EVENTS = (
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "subscription.payment_failed",
)
INSTALLMENT_PLAN_EVENTS = (
    "installment_plan.created",
    "installment_plan.updated",
    "installment_plan.payment_failed",
    "installment_plan.completed",
    "installment_plan.canceled",
)
DISPUTE_EVENTS = ("dispute.created", "dispute.updated", "dispute.closed")
INVOICE_EVENTS = (
    "invoice.created",
    "invoice.updated",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.canceled",
)
WEBHOOK_ENDPOINT_EVENTS = ("webhook_endpoint.disabled",)
EVENT_TYPES = frozenset(
    PAYMENT_EVENTS
    + REFUND_EVENTS
    + PAYOUT_EVENTS
    + SUBSCRIPTION_EVENTS
    + INSTALLMENT_PLAN_EVENTS
    + DISPUTE_EVENTS
    + INVOICE_EVENTS
    + WEBHOOK_ENDPOINT_EVENTS
)
# What an endpoint may subscribe to: a type, a family (``refund.*``) or everything (``*``).
EVENT_FAMILIES = frozenset(f"{t.split('.')[0]}.*" for t in EVENT_TYPES)
# As enumerations, so the OpenAPI document lists them and an unknown name is refused without
# being echoed back: what ``GET /v1/events?type=`` filters on, and what an endpoint may
# subscribe to.
EventTypeFilter = Literal[tuple(sorted(EVENT_TYPES | EVENT_FAMILIES))]
EventSelector = Literal[tuple(["*", *sorted(EVENT_TYPES | EVENT_FAMILIES)])]


class Event(BaseModel):
    """``data.object``: the object's state as of the change (its read model's JSON)."""

    id: str
    type: str
    object_type: str
    object_id: str
    created_at: datetime
    data: dict[str, Any]


class EventList(BaseModel):
    data: list[Event]
    has_more: bool
    next_cursor: str | None = None


def selects(enabled_events: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to ``enabled_events`` wants ``event_type``."""
    family = f"{event_type.split('.')[0]}.*"
    return any(wanted in ("*", family, event_type) for wanted in enabled_events)


def is_subscribable(name: str) -> bool:
    return name == "*" or name in EVENT_TYPES or name in EVENT_FAMILIES
