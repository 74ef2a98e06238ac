"""The activities only the settlement saga calls, as typed stubs (as in
``payment/activities.py``); it reads the provider and books through the sagas' own."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.payouts import PayoutState
    from schemas.refunds import RefundState
    from schemas.settlements import RecordedCommand


@activity.defn
def recorded_refund(command: RecordedCommand) -> RefundState | None: ...


@activity.defn
def recorded_payout(command: RecordedCommand) -> PayoutState | None: ...
