"""ReconciliationReportWorkflow: one tenant's day, ledger against provider, stored and returned."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.reconciliation import ReconciliationReport
    from schemas.reconciliation import ReportCommand
    from workflows.kit import policies
    from workflows.reconciliation.activities import build_reconciliation_report


@workflow.defn
class ReconciliationReportWorkflow:
    @workflow.run
    async def run(self, command: ReportCommand) -> ReconciliationReport:
        return await workflow.execute_activity(
            build_reconciliation_report,
            command,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=policies.PROVIDER_RETRY,
        )
