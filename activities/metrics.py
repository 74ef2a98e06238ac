"""Activity metrics, through the activity's meter: served by the worker's runtime with the
Temporal SDK's own metrics (workers/worker/telemetry.py). Labels stay bounded: provider names and
the error taxonomy, never an id."""

from temporalio import activity

from schemas import errors

TAXONOMY = frozenset(
    {errors.DECLINED, errors.INVALID_REQUEST, errors.UNAVAILABLE, errors.OUTCOME_UNKNOWN}
)


def provider_error(provider: str, kind: str | None) -> None:
    """A provider call ended in an error of ``kind`` (a taxonomy type; anything else counts
    as "other"). Outside an activity (a direct call in a test) there is nothing to count."""
    if not activity.in_activity():
        return
    activity.metric_meter().create_counter(
        "paysaga_provider_errors", "Provider calls that ended in an error, by taxonomy kind"
    ).add(1, {"provider": provider, "kind": kind if kind in TAXONOMY else "other"})
