"""The activity recurring billing calls, as a typed stub (as in ``payment/activities.py``)."""

from temporalio import activity


@activity.defn
def lookup_payment_outcome(payment_id: str) -> str | None: ...
