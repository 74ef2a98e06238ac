"""The activities the email saga calls, as typed stubs."""

from datetime import datetime

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.email import EmailDeliveryInput
    from schemas.email import EmailEnd
    from schemas.email import EmailOutcome


@activity.defn
async def send_email(email: EmailDeliveryInput) -> EmailOutcome: ...


@activity.defn
def next_dunning_retry(email: EmailDeliveryInput) -> datetime | None: ...


@activity.defn
def end_email(end: EmailEnd) -> EmailOutcome: ...
