"""The activity a subscription calls, as a typed stub (as in ``payment/activities.py``)."""

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from schemas.subscriptions import SubscriptionState


@activity.defn
def record_subscription(state: SubscriptionState) -> None: ...
