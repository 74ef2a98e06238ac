"""Emails a tenant's customers (receipts, dunning) and the tenant itself (notices) receive:
the tenant's settings (``/v1/email-settings``), what the email saga carries and answers.

The saga carries ids only: the recipient's address is personal data, so the activity reads it
from the event's object (its customer) or from the settings, never from Temporal's history."""

from datetime import datetime
from datetime import timedelta
from typing import Annotated
from typing import Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StringConstraints

from schemas.card_data import free_text
from schemas.customers import Email

EmailKind = Literal[
    "payment_receipt", "refund_receipt", "dunning_failed", "dunning_reminder", "endpoint_disabled"
]
EMAIL_KINDS: tuple[EmailKind, ...] = (
    "payment_receipt",
    "refund_receipt",
    "dunning_failed",
    "dunning_reminder",
    "endpoint_disabled",
)
# ``skipped``: nothing was sent and nothing will be (no recipient, the kind is off, the
# subscription a reminder was about is no longer past due).
EmailStatus = Literal["pending", "sent", "failed", "skipped"]
# How long the saga keeps trying an SMTP server that does not take the message.
SEND_WINDOW = timedelta(days=3)
# A dunning reminder goes this long before the retry it announces.
REMINDER_LEAD = timedelta(days=1)

# A header's text: no line break (it would start another header) and no control character.
HeaderText = free_text(100, min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")


def _https_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https URL")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials")
    return url


LogoUrl = Annotated[
    str,
    StringConstraints(max_length=2048, pattern=r"^https://[^\x00-\x20\x7f-\xa0\"'<>\\]+$"),
    AfterValidator(_https_url),
]


def _distinct(kinds: list[EmailKind]) -> list[EmailKind]:
    return sorted(set(kinds))


class EmailSettingsRequest(BaseModel):
    """Body of ``PUT /v1/email-settings``: the whole settings, replacing the stored ones."""

    model_config = ConfigDict(extra="forbid")

    sender_address: Email
    sender_name: HeaderText
    reply_to: Email | None = None
    logo_url: LogoUrl | None = Field(default=None, description="Shown atop every email; https")
    notification_address: Email | None = Field(
        default=None, description="Where the tenant's own notices go (an endpoint disabled)"
    )
    enabled_kinds: Annotated[list[EmailKind], AfterValidator(_distinct)] = Field(
        default_factory=lambda: list(EMAIL_KINDS)
    )


class EmailSettings(EmailSettingsRequest):
    tenant_id: str
    created_at: datetime
    updated_at: datetime


class OutgoingEmail(BaseModel):
    """One email as sent (or not): ``GET /v1/emails``. ``recipient`` is kept as the
    customers table keeps an address: it is what was sent, to whom."""

    email_id: str
    kind: EmailKind
    event_id: str
    recipient: str | None = None
    subject: str | None = None
    status: EmailStatus
    attempts: int = 0
    last_error: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class OutgoingEmailList(BaseModel):
    data: list[OutgoingEmail]


class EmailDeliveryInput(BaseModel):
    """The email saga's input: ids only."""

    tenant_id: str
    email_id: str
    event_id: str
    kind: EmailKind


class EmailOutcome(BaseModel):
    """What one send answered: ``failed`` is final (the server refused the message for
    good); ``reason`` says why an email was skipped or failed."""

    status: EmailStatus
    reason: str | None = None


class EmailEnd(BaseModel):
    """The saga ends an email without sending it: its send window has passed (``failed``)
    or a reminder found no retry to announce (``skipped``)."""

    email: EmailDeliveryInput
    status: Literal["failed", "skipped"]
    reason: str


class EmailState(BaseModel):
    email_id: str
    kind: EmailKind
    status: EmailStatus
    reason: str | None = None
