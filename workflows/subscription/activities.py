"""The activity a subscription calls, as a typed stub (as in ``payment/activities.py``)."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.subscriptions import SubscriptionState


@activity.defn
def record_subscription(state: SubscriptionState) -> None: ...
