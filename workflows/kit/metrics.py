"""Saga metrics, through the workflow's replay-safe meter: nothing is recorded while a
history replays, and recording adds no command, so histories stay as they are.

The worker's runtime serves them with the Temporal SDK's own metrics (workers/worker/telemetry.py),
each with the meter's namespace, task_queue and workflow_type labels. Labels stay few and
bounded: statuses, provider names, step names; never a tenant, customer or payment id.
"""

from temporalio import workflow


def payment_finished(status: str, provider: str) -> None:
    """A payment saga reached its final status: count it and how long it took (seconds,
    from the workflow's start; durations are exported in seconds)."""
    meter = workflow.metric_meter()
    labels = {"status": status, "provider": provider}
    meter.create_counter(
        "paysaga_payments_finished", "Payment sagas that reached a final status"
    ).add(1, labels)
    meter.create_histogram_timedelta(
        "paysaga_saga_duration",
        "Payment saga duration from workflow start to final status",
        unit="duration",
    ).record(workflow.now() - workflow.info().workflow_start_time, labels)


def compensation_ran(step: str, outcome: str) -> None:
    """A saga ran one compensation: ``outcome`` is succeeded, skipped or failed."""
    workflow.metric_meter().create_counter(
        "paysaga_compensations", "Saga compensations run, by step and outcome"
    ).add(1, {"step": step, "outcome": outcome})
