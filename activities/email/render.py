"""Emails rendered from Jinja2 templates (``templates/{kind}.html`` and ``.txt``; the HTML
autoescaped, so nothing from a client or a provider becomes markup) and built as
multipart/alternative messages with the tenant as sender."""

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from email.utils import formataddr
from typing import Any

from jinja2 import Environment
from jinja2 import PackageLoader
from jinja2 import StrictUndefined
from jinja2 import select_autoescape

from schemas.email import EmailKind
from schemas.email import EmailSettings

_TEMPLATES = Environment(
    loader=PackageLoader("activities.email"),
    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
    # A field the context lacks is a bug to see, not an empty space in a customer's email.
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
SUBJECTS: dict[EmailKind, str] = {
    "payment_receipt": "Your receipt from {sender_name}",
    "refund_receipt": "Your refund from {sender_name}",
    "dunning_failed": "Your payment to {sender_name} failed",
    "dunning_reminder": "{sender_name} will retry your payment soon",
    "endpoint_disabled": "A webhook endpoint of {sender_name} was disabled",
}


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def shown_date(moment: datetime) -> str:
    """``4 December 2026, 19:05 UTC``: the same for every reader, whatever their locale."""
    moment = moment.astimezone(UTC)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def render(kind: EmailKind, settings: EmailSettings, fields: dict[str, Any]) -> RenderedEmail:
    """The email of ``kind`` from the tenant's ``settings`` and the kind's ``fields``."""
    subject = SUBJECTS[kind].format(sender_name=settings.sender_name)
    context = {
        "subject": subject,
        "sender_name": settings.sender_name,
        "logo_url": settings.logo_url,
        "reply_to": settings.reply_to,
        **fields,
    }
    return RenderedEmail(
        subject=subject,
        text=_TEMPLATES.get_template(f"{kind}.txt").render(context),
        html=_TEMPLATES.get_template(f"{kind}.html").render(context),
    )


def message_id(email_id: str, sender_address: str) -> str:
    """Stable per email: a resend after a crash carries the same ``Message-ID``, by which
    mail systems and readers recognize the copy."""
    return f"<{email_id}@{sender_address.rsplit('@', 1)[1]}>"


def build_message(
    email: RenderedEmail,
    settings: EmailSettings,
    recipient: str,
    email_id: str,
    at: datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = email.subject
    message["From"] = formataddr((settings.sender_name, settings.sender_address))
    message["To"] = recipient
    if settings.reply_to:
        message["Reply-To"] = settings.reply_to
    message["Date"] = format_datetime(at.astimezone(UTC))
    message["Message-ID"] = message_id(email_id, settings.sender_address)
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    return message
