"""ReconciliationReportWorkflow: one tenant's day, ledger against provider, stored and returned."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas import steps
    from schemas.reconciliation import ReconciliationReport, ReportCommand
    from workflows.kit import policies


@workflow.defn
class ReconciliationReportWorkflow:
    @workflow.run
    async def run(self, command: ReportCommand) -> ReconciliationReport:
        return await workflow.execute_activity(
            steps.BUILD_RECONCILIATION_REPORT,
            command,
            result_type=ReconciliationReport,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=policies.PROVIDER_RETRY,
        )
