"""The activities the payout saga calls, as typed stubs (as in ``payment/activities.py``)."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.payouts import PayoutAdmission
    from schemas.payouts import PayoutInput
    from schemas.payouts import PayoutState
    from schemas.payouts import RecordPayoutCommand
    from schemas.provider import PayoutCommand
    from schemas.provider import PayoutResult
    from schemas.provider import TransferCommand
    from schemas.provider import TransferResult
    from schemas.provider import TransferReversalCommand


@activity.defn
def reserve_payout(payout: PayoutInput) -> PayoutAdmission: ...


@activity.defn
async def transfer_to_connected_account(command: TransferCommand) -> TransferResult: ...


@activity.defn
async def pay_out_to_bank(command: PayoutCommand) -> PayoutResult: ...


@activity.defn
async def reverse_transfer(command: TransferReversalCommand) -> TransferResult: ...


@activity.defn
def release_payout_reservation(state: PayoutState) -> None: ...


@activity.defn
def record_payout(command: RecordPayoutCommand) -> None: ...
