"""Each kind of email rendered: its subject, its text and HTML bodies, the tenant's name and
logo, and nothing of the fields becoming markup."""

from datetime import UTC
from datetime import datetime

import pytest

from activities.email.render import build_message
from activities.email.render import render
from activities.email.render import shown_date
from schemas.email import EMAIL_KINDS
from schemas.email import EmailSettings

NOW = datetime(2026, 12, 4, 19, 5, tzinfo=UTC)
SETTINGS = EmailSettings(
    tenant_id="ten_a",
    sender_address="billing@shop.example",
    sender_name="Corner & Shop",
    reply_to="help@shop.example",
    logo_url="https://shop.example/logo.png?size=2&dark=1",
    created_at=NOW,
    updated_at=NOW,
)
FIELDS = {
    "payment_receipt": {
        "amount": "19.99 EUR",
        "description": "<script>alert(1)</script>",
        "date": shown_date(NOW),
        "payment_id": "pay_0123456789abcdef01234567",
    },
    "refund_receipt": {
        "amount": "12.50 EUR",
        "date": shown_date(NOW),
        "payment_id": "pay_0123456789abcdef01234567",
        "refund_id": "re_0123456789abcdef01234567",
    },
    "dunning_failed": {
        "amount": "15.00 EUR",
        "plan_name": "<b>Coffee</b> club",
        "next_retry": shown_date(NOW),
        "subscription_id": "sub_0123456789abcdef01234567",
    },
    "dunning_reminder": {
        "amount": "15.00 EUR",
        "plan_name": "Coffee club",
        "next_retry": shown_date(NOW),
        "subscription_id": "sub_0123456789abcdef01234567",
    },
    "endpoint_disabled": {
        "endpoint_id": "we_0123456789abcdef01234567",
        "endpoint_url": "https://hooks.shop.example/in?a=1&b=<2>",
        "reason": "failing for 3 days",
    },
}
SAYS = {
    "payment_receipt": ("19.99 EUR", "pay_0123456789abcdef01234567"),
    "refund_receipt": ("12.50 EUR", "re_0123456789abcdef01234567"),
    "dunning_failed": ("15.00 EUR", "4 December 2026, 19:05 UTC"),
    "dunning_reminder": ("15.00 EUR", "4 December 2026, 19:05 UTC"),
    "endpoint_disabled": ("we_0123456789abcdef01234567", "failing for 3 days"),
}


@pytest.mark.parametrize("kind", EMAIL_KINDS)
def test_each_kind_renders_text_and_escaped_html(kind):
    email = render(kind, SETTINGS, FIELDS[kind])
    assert "Corner & Shop" in email.subject
    for said in SAYS[kind]:
        assert said in email.text and said in email.html
    assert "Corner & Shop" in email.text
    assert "Corner &amp; Shop" in email.html
    assert 'src="https://shop.example/logo.png?size=2&amp;dark=1"' in email.html
    assert "<script>" not in email.html and "<b>Coffee" not in email.html
    assert "{{" not in email.text + email.html


def test_a_missing_field_is_an_error_not_a_blank():
    with pytest.raises(Exception, match="amount"):
        render(
            "payment_receipt",
            SETTINGS,
            {k: v for k, v in FIELDS["payment_receipt"].items() if k != "amount"},
        )


def test_the_message_is_multipart_alternative_with_a_stable_message_id():
    email = render("payment_receipt", SETTINGS, FIELDS["payment_receipt"])
    message = build_message(
        email, SETTINGS, "ada@customer.example", "em_0123456789abcdef01234567", NOW
    )
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Corner & Shop", "billing@shop.example")
    assert message["Message-ID"] == "<em_0123456789abcdef01234567@shop.example>"
    assert message["Reply-To"] == "help@shop.example"
