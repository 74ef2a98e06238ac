"""The activities only reconciliation calls, as typed stubs (as in
``payment/activities.py``); it books and undoes through the sagas' own."""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.reconciliation import ChargeLookup
    from schemas.reconciliation import FindUnresolvedCommand
    from schemas.reconciliation import LookupCommand
    from schemas.reconciliation import PayoutLookup
    from schemas.reconciliation import ReconciliationReport
    from schemas.reconciliation import RefundLookup
    from schemas.reconciliation import ReportCommand
    from schemas.reconciliation import Unresolved


@activity.defn
def find_unresolved(command: FindUnresolvedCommand) -> Unresolved: ...


@activity.defn
async def lookup_charge(command: LookupCommand) -> ChargeLookup: ...


@activity.defn
async def lookup_refund(command: LookupCommand) -> RefundLookup: ...


@activity.defn
async def lookup_payout(command: LookupCommand) -> PayoutLookup: ...


@activity.defn
async def build_reconciliation_report(command: ReportCommand) -> ReconciliationReport: ...
