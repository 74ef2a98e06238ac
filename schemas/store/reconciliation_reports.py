"""The daily reconciliation reports, as the reconciliation saga stored them (one per tenant and
UTC day; a later run for the same day replaces it).

Every function runs in the caller's transaction (the API passes ``session.connection()``).
"""

import datetime as dt

from sqlalchemy import Connection
from sqlalchemy import select

from schemas.reconciliation import ReconciliationReport
from schemas.store.tables import ReconciliationReportRecord

_REPORTS = ReconciliationReportRecord.__table__


def stored_report(
    connection: Connection, tenant_id: str, day: dt.date
) -> ReconciliationReport | None:
    report_json = connection.execute(
        select(_REPORTS.c.report_json).where(
            _REPORTS.c.tenant_id == tenant_id, _REPORTS.c.day == day.isoformat()
        )
    ).scalar()
    return ReconciliationReport.model_validate_json(report_json) if report_json else None
