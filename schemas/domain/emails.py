"""Which emails an event makes, and the email sagas the event relay starts for them: pure.

A subscription's ``payment_failed`` (its entry into ``past_due``) makes two: the failure
notice at once, and a reminder the saga sends ``REMINDER_LEAD`` before a dunning retry
(``workflows/email_delivery``)."""

from typing import Any

from schemas.email import EmailDeliveryInput
from schemas.email import EmailKind
from schemas.email import EmailSettings
from schemas.events import Event
from schemas.identity import email_id
from schemas.identity import email_workflow_id

EMAILS_OF_EVENT: dict[str, list[EmailKind]] = {
    "payment.succeeded": ["payment_receipt"],
    "refund.succeeded": ["refund_receipt"],
    "subscription.payment_failed": ["dunning_failed", "dunning_reminder"],
    "webhook_endpoint.disabled": ["endpoint_disabled"],
}


def emails_for(event_type: str, event_object: dict[str, Any]) -> list[EmailKind]:
    """The kinds of email an event of ``event_type`` about ``event_object`` makes."""
    del event_object  # every kind so far follows from the type alone
    return list(EMAILS_OF_EVENT.get(event_type, []))


def email_starts(
    tenant_id: str, event: Event, settings: EmailSettings | None
) -> list[tuple[str, EmailDeliveryInput]]:
    """``(workflow id, input)`` of each email saga to start for ``tenant_id``'s ``event``,
    given the tenant's settings: none without settings or with the kind turned off, so most
    events start nothing. The ids are derived from the event and kind: starting one twice is
    one email."""
    if settings is None or settings.tenant_id != tenant_id:
        return []
    kinds = emails_for(event.type, event.data.get("object", {}))
    starts = []
    for kind in kinds:
        if kind not in settings.enabled_kinds:
            continue
        the_id = email_id(event.id, kind)
        starts.append(
            (
                email_workflow_id(tenant_id, the_id),
                EmailDeliveryInput(
                    tenant_id=tenant_id, email_id=the_id, event_id=event.id, kind=kind
                ),
            )
        )
    return starts
