"""Which emails an event makes, and the sagas the relay starts for them."""

from datetime import UTC
from datetime import datetime

import pytest
from pydantic import ValidationError

from schemas.domain.emails import email_starts
from schemas.domain.emails import emails_for
from schemas.email import EMAIL_KINDS
from schemas.email import EmailSettings
from schemas.email import EmailSettingsRequest
from schemas.events import EVENT_TYPES
from schemas.events import Event
from schemas.identity import EMAIL_ID
from schemas.identity import email_id

NOW = datetime(2026, 12, 4, tzinfo=UTC)


def settings(tenant: str = "ten_a", **changes) -> EmailSettings:
    return EmailSettings(
        tenant_id=tenant,
        sender_address="billing@shop.example",
        sender_name="Corner Shop",
        created_at=NOW,
        updated_at=NOW,
        **changes,
    )


def event(event_type: str, event_id: str = "evt_0123456789abcdef01234567") -> Event:
    return Event(
        id=event_id,
        type=event_type,
        object_type=event_type.split(".")[0],
        object_id="pay_0123456789abcdef01234567",
        created_at=NOW,
        data={"object": {}},
    )


@pytest.mark.parametrize(
    ("event_type", "kinds"),
    [
        ("payment.succeeded", ["payment_receipt"]),
        ("refund.succeeded", ["refund_receipt"]),
        ("subscription.payment_failed", ["dunning_failed", "dunning_reminder"]),
        ("webhook_endpoint.disabled", ["endpoint_disabled"]),
        ("payment.failed", []),
        ("refund.failed", []),
        ("subscription.updated", []),
    ],
)
def test_emails_for(event_type, kinds):
    assert emails_for(event_type, {}) == kinds


def test_every_kind_is_made_by_some_event():
    made = {kind for t in EVENT_TYPES for kind in emails_for(t, {})}
    assert made == set(EMAIL_KINDS)


def test_starts_are_derived_from_event_and_kind():
    starts = email_starts("ten_a", event("subscription.payment_failed"), settings())
    assert [(workflow_id, start.kind) for workflow_id, start in starts] == [
        (
            f"ten_a:email:{email_id('evt_0123456789abcdef01234567', 'dunning_failed')}",
            "dunning_failed",
        ),
        (
            f"ten_a:email:{email_id('evt_0123456789abcdef01234567', 'dunning_reminder')}",
            "dunning_reminder",
        ),
    ]
    for _, start in starts:
        assert EMAIL_ID.match(start.email_id)
        assert set(start.model_dump()) == {"tenant_id", "email_id", "event_id", "kind"}
    again = email_starts("ten_a", event("subscription.payment_failed"), settings())
    assert again == starts


def test_nothing_starts_without_settings_for_a_kind_turned_off_or_another_tenant_s():
    paid = event("payment.succeeded")
    assert email_starts("ten_a", paid, None) == []
    assert email_starts("ten_a", paid, settings(enabled_kinds=["refund_receipt"])) == []
    assert email_starts("ten_a", paid, settings("ten_b")) == []
    assert len(email_starts("ten_a", paid, settings())) == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"sender_name": "Shop\r\nBcc: victim@example.com"},
        {"sender_name": ""},
        {"sender_address": "not an address"},
        {"reply_to": "a@b\nc"},
        {"logo_url": "http://shop.example/logo.png"},
        {"logo_url": "https://user:pw@shop.example/logo.png"},
        {"logo_url": 'https://shop.example/"onerror="x'},
        {"logo_url": "javascript:alert(1)"},
        {"enabled_kinds": ["newsletter"]},
        {"sender_name": "Card 4242 4242 4242 4242"},
        {"surprise": True},
    ],
)
def test_settings_refuse_what_would_break_a_header_or_the_page(changes):
    body = {"sender_address": "billing@shop.example", "sender_name": "Corner Shop"} | changes
    with pytest.raises(ValidationError):
        EmailSettingsRequest.model_validate(body)


def test_settings_keep_each_kind_once():
    body = EmailSettingsRequest(
        sender_address="billing@shop.example",
        sender_name="Corner Shop",
        enabled_kinds=["refund_receipt", "payment_receipt", "refund_receipt"],
    )
    assert body.enabled_kinds == ["payment_receipt", "refund_receipt"]
