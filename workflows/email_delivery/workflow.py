"""EmailDeliveryWorkflow: one email of one event (``{tenant}:email:{email id}``), sent until
the SMTP server takes it or refuses it for good, for up to ``SEND_WINDOW`` (three days).

The send is one activity whose retry policy is the schedule: an SMTP server that is down
or answers 4xx fails the attempt, and Temporal tries again with exponential backoff; a 5xx
refusal, or nothing to send (no recipient, the kind turned off), is the activity's answer.
When the window has passed the email is recorded ``failed``.

A dunning reminder first waits: ``REMINDER_LEAD`` (a day) before a dunning retry of the
past-due subscription, read from its read model. A retry due sooner than that when the saga
looks (the first one, a day after the failure notice, by the default schedule) gets no
reminder of its own, as the failure notice has just said it; the saga looks again once that
retry has had time to run. So a subscription that stays past due gets one reminder, a day
before its next retry, and one that was paid or canceled meanwhile gets none (the send
checks the subscription once more, and records the email ``skipped``); so does one whose
every retry came too soon to be announced."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from schemas.email import REMINDER_LEAD
    from schemas.email import SEND_WINDOW
    from schemas.email import EmailDeliveryInput
    from schemas.email import EmailEnd
    from schemas.email import EmailOutcome
    from schemas.email import EmailState
    from workflows.email_delivery.activities import end_email
    from workflows.email_delivery.activities import next_dunning_retry
    from workflows.email_delivery.activities import send_email
    from workflows.kit.policies import RECORD_CALL

SEND_CALL = {
    # SMTP's own per-command timeout (30 s) bounds a send; this bounds a stuck worker.
    "start_to_close_timeout": timedelta(minutes=2),
    "schedule_to_close_timeout": SEND_WINDOW,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=30),
    ),
}
# How long after a dunning retry's time the reminder looks again (the retry is a payment
# saga of its own, which takes a moment to record its outcome).
AFTER_RETRY = timedelta(minutes=10)
# Looks at the subscription a reminder may take: two per dunning retry (at most ten).
MAX_REMINDER_LOOKS = 22


@workflow.defn
class EmailDeliveryWorkflow:
    @workflow.run
    async def run(self, email: EmailDeliveryInput) -> EmailState:
        if email.kind == "dunning_reminder" and not await self._until_reminder_time(email):
            return await self._end(email, "skipped", "no_retry_to_announce")
        try:
            outcome = await workflow.execute_activity(send_email, email, **SEND_CALL)
        except ActivityError:
            return await self._end(email, "failed", "send_window_passed")
        return _state(email, outcome)

    async def _until_reminder_time(self, email: EmailDeliveryInput) -> bool:
        """Whether to send the reminder now (the send checks the subscription again)."""
        waited_for_reminder = False
        for _ in range(MAX_REMINDER_LOOKS):
            retry_at = await workflow.execute_activity(next_dunning_retry, email, **RECORD_CALL)
            if retry_at is None:  # no longer past due: the send records it skipped
                return True
            now = workflow.now()
            remind_at = retry_at - REMINDER_LEAD
            if remind_at > now:
                await workflow.sleep(remind_at - now)
                waited_for_reminder = True
                continue  # the retry may have moved meanwhile
            if waited_for_reminder and retry_at > now:
                return True
            waited_for_reminder = False
            await workflow.sleep(max(retry_at - now, timedelta(0)) + AFTER_RETRY)
        return False

    async def _end(self, email: EmailDeliveryInput, status: str, reason: str) -> EmailState:
        outcome = await workflow.execute_activity(
            end_email, EmailEnd(email=email, status=status, reason=reason), **RECORD_CALL
        )
        return _state(email, outcome)


def _state(email: EmailDeliveryInput, outcome: EmailOutcome) -> EmailState:
    return EmailState(
        email_id=email.email_id, kind=email.kind, status=outcome.status, reason=outcome.reason
    )
