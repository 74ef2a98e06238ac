"""The activities the refund saga calls, as typed stubs (as in ``payment/activities.py``)."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.provider import RefundCommand
    from schemas.provider import RefundResult
    from schemas.refunds import RecordRefundCommand
    from schemas.refunds import RefundInput
    from schemas.refunds import RefundState


@activity.defn
def reserve_refund(refund: RefundInput) -> RefundState: ...


@activity.defn
async def create_refund(command: RefundCommand) -> RefundResult: ...


@activity.defn
def record_refund(command: RecordRefundCommand) -> None: ...
