"""The daily reconciliation report: the ledger against the provider, item by item."""

import asyncio
import datetime as dt
from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi import Request
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy

from api.auth import TenantDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalDep
from api.dependencies import run_transaction
from api.openapi import problems
from api.problems import Problem
from api.sagas import temporal_call
from api.sagas import tenant_priority
from schemas.reconciliation import ReconciliationReport
from schemas.reconciliation import ReportCommand
from schemas.reconciliation import is_final
from schemas.store.reconciliation_reports import stored_report
from workflows.reconciliation.report import ReconciliationReportWorkflow

router = APIRouter(prefix="/v1/reports", tags=["reports"])
# No provider has books older than this; it also keeps the day's margins representable.
EARLIEST = dt.date(2000, 1, 1)

ReportDate = Annotated[
    dt.date,
    Query(alias="date", description="The UTC day to reconcile (ISO 8601 date)"),
]


@router.get(
    "/reconciliation",
    responses=problems(
        "invalid_period",
        "temporal_unavailable",
        "report_in_progress",
        "too_many_reconciliation_reports",
    ),
)
async def get_reconciliation_report(
    request: Request,
    tenant: TenantDep,
    day: ReportDate,
    temporal: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
) -> ReconciliationReport:
    """Every capture, fee and refund of the day that the ledger and the provider disagree on,
    and the day's totals on both sides. Built (asking the provider) and stored, unless the
    stored one is recent (``reconciliation_report_cooldown``) or was built after its day
    ended; a tenant has ``reconciliation_reports_per_hour`` builds, then 429."""
    now = dt.datetime.now(dt.UTC)
    if not EARLIEST <= day <= now.date():
        raise Problem(
            "invalid_period",
            f"date must be a past or present day, from {EARLIEST.isoformat()} on",
        )
    stored = await run_transaction(session, stored_report, tenant, day)
    if stored is not None and (
        is_final(stored) or now - stored.generated_at < settings.reconciliation_report_cooldown
    ):
        return stored
    request.app.state.report_builds.take(tenant)
    try:
        with temporal_call():
            async with asyncio.timeout(settings.create_wait.total_seconds()):
                return await temporal.execute_workflow(
                    ReconciliationReportWorkflow.run,
                    ReportCommand(tenant_id=tenant, date=day),
                    # Concurrent requests for one report share a run; a later request, a new one.
                    id=f"{tenant}:reconciliation-report:{day.isoformat()}",
                    id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    task_queue=settings.task_queue,
                    priority=tenant_priority(tenant),
                )
    except TimeoutError:
        stored = await run_transaction(session, stored_report, tenant, day)
        if stored is not None:
            return stored
        raise Problem("report_in_progress", headers={"Retry-After": "5"}) from None
