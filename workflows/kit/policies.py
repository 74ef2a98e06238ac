"""Activity timeouts and retry policies of the sagas."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import Priority
from temporalio.common import RetryPolicy

from schemas import errors
from workflows.kit.patches import TENANT_FAIRNESS

# Provider calls: Unavailable and OutcomeUnknown retry with backoff and the *same*
# idempotency key, so a retry can never charge twice.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    non_retryable_error_types=errors.PROVIDER_NON_RETRYABLE,
)
# A provider call gives up after the client's 10 s timeout; 15 s here bounds how long a
# call lost with a crashed worker waits before another worker retries it.
PROVIDER_CALL = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(minutes=10),
    "retry_policy": PROVIDER_RETRY,
}


def provider_call(deadline: timedelta) -> dict:
    """``PROVIDER_CALL`` within the saga's own deadline for all of a call's attempts."""
    return {**PROVIDER_CALL, "schedule_to_close_timeout": deadline}


def keyed_by_tenant(options: dict, tenant_id: str) -> dict:
    """``options`` with the tenant as the call's fairness key: when calls wait for a
    worker's activity slots, the server hands them out in turn per tenant, so one tenant's
    backlog never delays another's calls by more than a turn. Histories recorded before the
    key existed replay without it."""
    if not workflow.patched(TENANT_FAIRNESS):
        return options
    return {**options, "priority": Priority(fairness_key=tenant_id)}


# A payment's authorization is tried once in the workflow task itself (a local activity), so
# a provider that answers at once costs no activity task and no workflow task of its own.
# Short: a slow provider is handed on to ``PROVIDER_CALL`` (retried, same idempotency key)
# well before the client's 10 s timeout and the workflow task's, while a provider's usual
# latency (a second or two) stays well inside it.
LOCAL_PROVIDER_ATTEMPT_TIMEOUT = timedelta(seconds=5)


def local_provider_attempt(deadline: timedelta) -> dict:
    """One attempt as a local activity, within the saga's deadline for the call."""
    return {
        "start_to_close_timeout": min(LOCAL_PROVIDER_ATTEMPT_TIMEOUT, deadline),
        "retry_policy": RetryPolicy(maximum_attempts=1),
    }


# Compensations retry longer: giving up means an operator has to step in.
COMPENSATION_CALL = {
    "start_to_close_timeout": timedelta(seconds=15),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": PROVIDER_RETRY,
}

# Fraud checks and ledger writes are fast SQL in the worker: local activities.
LOCAL_CALL = {
    "start_to_close_timeout": timedelta(seconds=10),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_interval=timedelta(seconds=2),
        maximum_attempts=5,
        non_retryable_error_types=[errors.LEDGER_REJECTED],
    ),
}

# Booking what already happened at the provider (a refund or payout that went through) must
# not give up after a few attempts: the ledger would disagree with the provider.
RECORD_CALL = {
    "start_to_close_timeout": timedelta(seconds=10),
    "schedule_to_close_timeout": timedelta(hours=1),
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[errors.LEDGER_REJECTED],
    ),
}

# Admitting a refund or payout: a refusal (``Rejected``) is final at once, but a database
# outage is waited out, never turned into a refusal, since an attempt that committed and
# then lost its answer holds a reservation only a later attempt of its own can report.
ADMISSION_CALL = {
    **RECORD_CALL,
    "retry_policy": RetryPolicy(
        initial_interval=timedelta(milliseconds=200),
        maximum_interval=timedelta(seconds=30),
        non_retryable_error_types=[errors.LEDGER_REJECTED, errors.REJECTED],
    ),
}
