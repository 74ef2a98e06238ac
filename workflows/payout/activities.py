"""The activities the payout saga calls, as typed stubs (as in ``payment/activities.py``)."""

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from schemas.payouts import PayoutAdmission, PayoutInput, PayoutState, RecordPayoutCommand
    from schemas.provider import (
        PayoutCommand,
        PayoutResult,
        TransferCommand,
        TransferResult,
        TransferReversalCommand,
    )


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
