"""The activities the refund saga calls, as typed stubs (as in ``payment/activities.py``)."""

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from schemas.provider import RefundCommand, RefundResult
    from schemas.refunds import RecordRefundCommand, RefundInput, RefundState


@activity.defn
def reserve_refund(refund: RefundInput) -> RefundState: ...


@activity.defn
async def create_refund(command: RefundCommand) -> RefundResult: ...


@activity.defn
def record_refund(command: RecordRefundCommand) -> None: ...
