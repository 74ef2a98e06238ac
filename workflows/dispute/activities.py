"""The activities DisputeWorkflow calls, as typed stubs (as in ``payment/activities.py``)."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.disputes import DisputeActionCommand
    from schemas.disputes import DisputeState
    from schemas.disputes import ProviderDispute
    from schemas.disputes import SyncDisputeCommand


@activity.defn
async def sync_dispute(command: SyncDisputeCommand) -> DisputeState: ...


@activity.defn
async def submit_dispute_evidence(command: DisputeActionCommand) -> ProviderDispute: ...


@activity.defn
async def accept_dispute(command: DisputeActionCommand) -> ProviderDispute: ...
