"""The activity the delivery saga calls, as a typed stub."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.webhook_endpoints import AttemptCommand
    from schemas.webhook_endpoints import AttemptOutcome


@activity.defn
async def attempt_webhook_delivery(command: AttemptCommand) -> AttemptOutcome: ...
