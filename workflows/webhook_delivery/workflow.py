"""WebhookDeliveryWorkflow: one event to one endpoint, attempted until a 2xx or until the
retry window (three days) has passed, with exponential backoff and jitter between attempts.

Each attempt is one activity (the POST, and its record in SQL); a failed answer is the
activity's result, not its failure, so the activity's own retry policy only covers a worker
or database lost mid-attempt. The waits are timers in this workflow, so the schedule
survives any restart, and ``retry_now`` (``POST …/deliveries/{id}/retry``) cuts one short."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from schemas.webhook_endpoints import ATTEMPT_TIMEOUT
    from schemas.webhook_endpoints import RETRY_WINDOW
    from schemas.webhook_endpoints import AttemptCommand
    from schemas.webhook_endpoints import DeliveryInput
    from schemas.webhook_endpoints import DeliveryState
    from workflows.kit import search_attributes as sa
    from workflows.kit.waits import wait_within
    from workflows.webhook_delivery.activities import attempt_webhook_delivery

FIRST_RETRY = timedelta(seconds=10)
BACKOFF = 3
LONGEST_WAIT = timedelta(hours=6)
# Each wait is drawn from [1 - JITTER, 1 + JITTER] of its nominal length, so the
# deliveries of one outage do not all come back at the same moment.
JITTER = 0.2
ATTEMPT_CALL = {
    # The POST's own timeout bounds the send; this bounds a stuck worker.
    "start_to_close_timeout": ATTEMPT_TIMEOUT * 3,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=10,
    ),
}


def nominal_wait(failed_attempts: int) -> timedelta:
    """10 s, 30 s, 90 s, 4.5 min, … up to 6 h."""
    return min(FIRST_RETRY * BACKOFF ** (failed_attempts - 1), LONGEST_WAIT)


@workflow.defn
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._retry_now = False
        self._attempts = 0

    @workflow.run
    async def run(self, delivery: DeliveryInput) -> DeliveryState:
        started = workflow.now()
        give_up_at = started + RETRY_WINDOW
        while True:
            self._attempts += 1
            now = workflow.now()
            wait = self._next_wait()
            last = delivery.manual or now >= give_up_at
            # The schedule's last attempt falls on the end of the window.
            next_at = None if last else min(now + wait, give_up_at)
            outcome = await workflow.execute_activity(
                attempt_webhook_delivery,
                AttemptCommand(
                    tenant_id=delivery.tenant_id,
                    delivery_id=delivery.delivery_id,
                    at=now,
                    manual=delivery.manual,
                    next_attempt_at=next_at,
                    last=last,
                ),
                **ATTEMPT_CALL,
            )
            if outcome.result == "delivered":
                return self._ended(delivery, "delivered")
            if outcome.result == "endpoint_gone" or next_at is None:
                return self._ended(delivery, "failed")
            self._retry_now = False
            await wait_within(lambda: self._retry_now, next_at - now)

    @workflow.signal
    def retry_now(self) -> None:
        self._retry_now = True

    @workflow.query
    def attempts(self) -> int:
        return self._attempts

    def _next_wait(self) -> timedelta:
        spread = 1 + JITTER * (2 * workflow.random().random() - 1)
        return nominal_wait(self._attempts) * spread

    def _ended(self, delivery: DeliveryInput, status: str) -> DeliveryState:
        workflow.upsert_search_attributes([sa.DELIVERY_STATUS.value_set(status)])
        return DeliveryState(
            delivery_id=delivery.delivery_id, status=status, attempts=self._attempts
        )
