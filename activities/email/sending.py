"""The email saga's activities: send one email (rendered from the event, to the address our
records hold), look up when a past-due subscription is retried, and record a give-up.

Each send records its attempt on the email's row first (recipient, subject, Message-ID),
then sends; a send whose answer was lost is sent again with the same Message-ID. Logs name
the email by id only, never its recipient."""

import asyncio
import logging
from datetime import UTC
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import Connection
from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.email.content import Composed
from activities.email.content import Skipped
from activities.email.content import compose
from activities.email.render import build_message
from activities.email.render import message_id
from activities.email.render import render
from activities.email.smtp import SmtpRefused
from activities.email.smtp import SmtpServer
from activities.email.smtp import SmtpUnavailable
from schemas.email import EmailDeliveryInput
from schemas.email import EmailEnd
from schemas.email import EmailOutcome
from schemas.email import EmailSettings
from schemas.email import OutgoingEmail
from schemas.store import emails
from schemas.store.events import get_event
from schemas.store.read_model import SUBSCRIPTIONS
from schemas.subscriptions import SubscriptionStatus

log = logging.getLogger("paysaga.email")

# The activity failure type of an email not sent now but sendable later (retried).
EMAIL_UNAVAILABLE = "EmailUnavailable"


class EmailActivities:
    def __init__(self, engine: Engine, smtp: SmtpServer) -> None:
        self._engine = engine
        self._smtp = smtp

    @activity.defn
    async def send_email(self, email: EmailDeliveryInput) -> EmailOutcome:
        """``sent``, ``skipped`` (nothing to send: recorded why) or ``failed`` (the server
        refused it for good); an SMTP server that does not take it now fails the attempt
        (``EmailUnavailable``), which the saga's retry policy tries again."""
        attempt = activity.info().attempt
        prepared = await asyncio.to_thread(self._prepare, email, attempt)
        if isinstance(prepared, EmailOutcome):
            return prepared
        try:
            await self._smtp.send(prepared)
        except SmtpRefused as exc:
            log.warning("email %s refused: %s", email.email_id, exc.brief)
            await asyncio.to_thread(self._record, email, status="failed", last_error=str(exc))
            return EmailOutcome(status="failed", reason=exc.brief)
        except SmtpUnavailable as exc:
            await asyncio.to_thread(self._record, email, last_error=str(exc))
            # The server's own words stay in SQL: they may name the recipient.
            raise ApplicationError(exc.brief, type=EMAIL_UNAVAILABLE) from None
        await asyncio.to_thread(
            self._record, email, status="sent", last_error=None, sent_at=datetime.now(UTC)
        )
        log.info("email %s (%s) sent", email.email_id, email.kind)
        return EmailOutcome(status="sent")

    @activity.defn
    def next_dunning_retry(self, email: EmailDeliveryInput) -> datetime | None:
        """When the event's subscription is charged again, while it is past due."""
        with self._engine.connect() as connection:
            event = get_event(connection, email.tenant_id, email.event_id)
            if event is None:
                return None
            subscription = SUBSCRIPTIONS.get(connection, email.tenant_id, event.object_id)
        if subscription is None or subscription.status != SubscriptionStatus.PAST_DUE:
            return None
        return subscription.next_retry_at

    @activity.defn
    def end_email(self, end: EmailEnd) -> EmailOutcome:
        """Ended unsent by the saga; a failure keeps the last attempt's error."""
        changes = {"status": end.status}
        if end.status == "skipped":
            changes["last_error"] = end.reason
        with self._engine.begin() as connection:
            emails.start_message(connection, end.email, datetime.now(UTC))
        self._record(end.email, **changes)
        return EmailOutcome(status=end.status, reason=end.reason)

    def _prepare(self, email: EmailDeliveryInput, attempt: int) -> EmailOutcome | EmailMessage:
        """The message to send, recorded as this attempt's; or what the email came to
        without one."""
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            stored = emails.start_message(connection, email, now)
            if stored.status != "pending":  # an earlier attempt finished it
                return EmailOutcome(status=stored.status, reason=_brief(stored))
            settings = emails.get_settings(connection, email.tenant_id)
            found = _composed(connection, email, settings)
            if isinstance(found, Skipped) or settings is None:
                reason = found.reason if isinstance(found, Skipped) else "email_disabled"
                emails.update_message(
                    connection,
                    email.tenant_id,
                    email.email_id,
                    now,
                    status="skipped",
                    attempts=attempt,
                    last_error=reason,
                )
                return EmailOutcome(status="skipped", reason=reason)
            composed = found
            rendered = render(email.kind, settings, composed.fields)
            message = build_message(rendered, settings, composed.recipient, email.email_id, now)
            emails.update_message(
                connection,
                email.tenant_id,
                email.email_id,
                now,
                attempts=attempt,
                recipient=composed.recipient,
                subject=rendered.subject,
                message_id=message_id(email.email_id, settings.sender_address),
            )
        return message

    def _record(self, email: EmailDeliveryInput, **changes) -> None:
        with self._engine.begin() as connection:
            emails.update_message(
                connection, email.tenant_id, email.email_id, datetime.now(UTC), **changes
            )


def _composed(
    connection: Connection, email: EmailDeliveryInput, settings: EmailSettings | None
) -> Composed | Skipped:
    if settings is None or email.kind not in settings.enabled_kinds:
        return Skipped("email_disabled")
    event = get_event(connection, email.tenant_id, email.event_id)
    if event is None:
        return Skipped("event_not_found")
    return compose(connection, settings, email.kind, event)


def _brief(stored: OutgoingEmail) -> str | None:
    """A finished email's reason as the saga may carry it: a skip's own code, a failure's
    SMTP code without the server's words."""
    if stored.status == "skipped" or not stored.last_error:
        return stored.last_error
    return stored.last_error.split(":", 1)[0]
