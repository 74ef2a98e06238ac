"""Reports on a tenant's money, computed in SQL from the ledger."""

from typing import Annotated
from typing import Any

from fastapi import APIRouter
from fastapi import Query
from pydantic import ValidationError

from api.auth import TenantDep
from api.dependencies import SessionDep
from api.openapi import problems
from api.problems import Problem
from api.problems import invalid_request
from schemas.money import CHARGEABLE_CURRENCIES
from schemas.store.reports import MAX_PERIOD
from schemas.store.reports import PROVIDER_PATTERN
from schemas.store.reports import FinancialReport
from schemas.store.reports import FinancialReportQuery
from schemas.store.reports import financial_report

router = APIRouter(prefix="/v1/reports", tags=["reports"])

# The schema documents what the parameters accept; FinancialReportQuery checks it, so a bad
# value gets its own problem code (invalid_period, invalid_currency) rather than FastAPI's.
_INSTANT_SCHEMA: dict[str, Any] = {"anyOf": [{"format": "date"}, {"format": "date-time"}]}
_INSTANT_HELP = (
    "ISO 8601 date (`2026-05-01`, midnight) or date-time (`2026-05-01T12:00:00Z`); "
    "without an offset, UTC."
)
Start = Annotated[
    str,
    Query(
        description=f"Start of the period, inclusive. {_INSTANT_HELP}",
        examples=["2026-05-01"],
        json_schema_extra=_INSTANT_SCHEMA,
    ),
]
End = Annotated[
    str,
    Query(
        description=f"End of the period, exclusive; after start, at most {MAX_PERIOD.days} "
        f"days later. {_INSTANT_HELP}",
        examples=["2026-06-01"],
        json_schema_extra=_INSTANT_SCHEMA,
    ),
]
CurrencyFilter = Annotated[
    str | None,
    Query(
        description="Only this currency (ISO 4217, uppercase)",
        examples=["USD"],
        json_schema_extra={"enum": sorted(CHARGEABLE_CURRENCIES)},
    ),
]
ProviderFilter = Annotated[
    str | None,
    Query(
        description="Only this provider",
        examples=["sandbox"],
        json_schema_extra={"pattern": PROVIDER_PATTERN},
    ),
]
# The code a refused parameter gets (the period's own check has no field: invalid_period).
_CODES = {"start": "invalid_period", "end": "invalid_period", "currency": "invalid_currency"}


def _problem(exc: ValidationError) -> Problem:
    fields = [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "period",
            "message": error["msg"].removeprefix("Value error, "),
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first = fields[0]["field"]
    return invalid_request(
        fields, _CODES.get(first, "invalid_period" if first == "period" else "validation_error")
    )


@router.get("/financial", responses=problems("invalid_period", "invalid_currency"))
def get_financial_report(
    tenant: TenantDep,
    session: SessionDep,
    start: Start,
    end: End,
    currency: CurrencyFilter = None,
    provider: ProviderFilter = None,
) -> FinancialReport:
    """Captured, refunded, fees and net of the half-open period [start, end) per currency
    and provider, in minor units, from the ledger's journal entries."""
    try:
        query = FinancialReportQuery(start=start, end=end, currency=currency, provider=provider)
    except ValidationError as exc:
        raise _problem(exc) from None
    return financial_report(session, tenant, query.start, query.end, query.currency, query.provider)
