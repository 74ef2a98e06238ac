"""Which events a state change makes."""

import pytest

from schemas.domain.events import EVENTS_OF_CHANGE
from schemas.events import EVENT_TYPES
from schemas.events import is_subscribable
from schemas.events import selects


@pytest.mark.parametrize(
    ("object_type", "previous", "status", "expected"),
    [
        ("payment", None, "processing", []),
        ("payment", "processing", "succeeded", ["payment.succeeded"]),
        ("payment", "succeeded", "succeeded", []),
        ("payment", "processing", "declined", ["payment.failed"]),
        ("payment", "requires_capture", "expired", ["payment.failed"]),
        ("payment", "succeeded", "refunded", []),
        ("refund", None, "succeeded", ["refund.succeeded"]),
        ("refund", "pending", "failed", ["refund.failed"]),
        ("payout", "pending", "succeeded", ["payout.paid"]),
        ("subscription", None, "active", ["subscription.created"]),
        (
            "subscription",
            "active",
            "past_due",
            ["subscription.updated", "subscription.payment_failed"],
        ),
        ("subscription", "past_due", "unpaid", ["subscription.updated"]),
        ("subscription", "past_due", "canceled", ["subscription.canceled"]),
        ("installment_plan", None, "active", ["installment_plan.created"]),
        ("installment_plan", "active", "past_due", ["installment_plan.payment_failed"]),
        ("installment_plan", "past_due", "active", ["installment_plan.updated"]),
        ("dispute", None, "needs_response", ["dispute.created"]),
        ("dispute", "needs_response", "under_review", ["dispute.updated"]),
        ("dispute", "under_review", "won", ["dispute.closed"]),
        ("invoice", None, "open", ["invoice.created"]),
        ("invoice", "open", "in_payment", ["invoice.updated"]),
        ("invoice", "in_payment", "paid", ["invoice.paid"]),
        ("invoice", "in_payment", "defaulted", ["invoice.payment_failed"]),
        ("invoice", "open", "canceled", ["invoice.canceled"]),
    ],
)
def test_events_of_a_change(object_type, previous, status, expected):
    events = EVENTS_OF_CHANGE[object_type](previous, status)
    assert events == expected
    assert set(events) <= EVENT_TYPES


def test_what_an_endpoint_selects():
    assert selects(["*"], "payment.succeeded")
    assert selects(["refund.*"], "refund.failed")
    assert not selects(["refund.*"], "payment.succeeded")
    assert selects(["payment.succeeded"], "payment.succeeded")
    assert not selects(["payment.succeeded"], "payment.failed")
    assert is_subscribable("refund.*") and is_subscribable("*")
    assert not is_subscribable("refund.exploded") and not is_subscribable("nothing.*")
