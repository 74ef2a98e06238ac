"""GET /v1/reports/financial on the embedded stack: real payments and refunds through the
API, the report read back through the API, and its refusals as problem+json."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import col
from sqlmodel import select

from schemas.store.tables import JournalEntry
from schemas.store.tables import Posting
from tests.e2e.conftest import post_created
from tests.support.tenants import PAYMENT
from tests.support.tenants import tenant_client

PROBLEM_JSON = "application/problem+json"
REPORT = "/v1/reports/financial"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ledger_total(engine: Engine, tenant_id: str, kind: str) -> int:
    """Σ of the positive legs of the tenant's entries of a kind, straight from the tables."""
    with Session(engine) as session:
        total = session.exec(
            select(func.coalesce(func.sum(Posting.amount), 0))
            .join(JournalEntry, col(JournalEntry.id) == col(Posting.entry_id))
            .where(JournalEntry.tenant_id == tenant_id, JournalEntry.kind == kind)
            .where(col(Posting.amount) > 0)
        ).one()
    return int(total)


async def test_the_report_adds_up_the_payments_and_refunds_made(tenant, admin, stack, stack_db):
    tenant_id, client = tenant
    before_any = datetime.now(UTC)
    usd = [
        await post_created(client, "/v1/payments", {**PAYMENT, "amount": a}) for a in (1_999, 5_000)
    ]
    eur = await post_created(
        client, "/v1/payments", {**PAYMENT, "amount": 1_250, "currency": "EUR"}
    )
    refund = await post_created(
        client, f"/v1/payments/{usd[1]['payment_id']}/refunds", {"amount": 700}
    )
    assert {p["status"] for p in [*usd, eur]} == {"succeeded"}
    assert refund["status"] == "succeeded"
    period = {"start": (before_any - timedelta(days=1)).date().isoformat()}
    period["end"] = iso(datetime.now(UTC) + timedelta(minutes=1))

    response = await client.get(REPORT, params=period)

    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["currency"], report["provider"]) == (None, None)
    assert report["start"] == f"{period['start']}T00:00:00Z"
    usd_fees = sum(p["fee"] for p in usd)
    assert report["data"] == [
        {
            "currency": "EUR",
            "provider": "sandbox",
            "gross_captured": 1_250,
            "captures": 1,
            "refunded": 0,
            "refunds": 0,
            "fees": eur["fee"],
            "net": 1_250 - eur["fee"],
        },
        {
            "currency": "USD",
            "provider": "sandbox",
            "gross_captured": 6_999,
            "captures": 2,
            "refunded": 700,
            "refunds": 1,
            "fees": usd_fees,
            "net": 6_999 - usd_fees - 700,
        },
    ]
    # The fees the payments report are the ones the ledger booked (and the gateway charges).
    assert ledger_total(stack_db, tenant_id, "fee") == usd_fees + eur["fee"] > 0
    assert ledger_total(stack_db, tenant_id, "capture") == 6_999 + 1_250
    assert ledger_total(stack_db, tenant_id, "refund") == 700

    euros = (await client.get(REPORT, params={**period, "currency": "EUR"})).json()
    assert [line["currency"] for line in euros["data"]] == ["EUR"]
    assert euros["currency"] == "EUR"
    sandbox = (await client.get(REPORT, params={**period, "provider": "sandbox"})).json()
    assert sandbox["data"] == report["data"]
    assert (await client.get(REPORT, params={**period, "provider": "stripe"})).json()["data"] == []
    # Half-open: a period that ends when the payments began has none of them.
    earlier = {"start": period["start"], "end": iso(before_any)}
    assert (await client.get(REPORT, params=earlier)).json()["data"] == []
    # Another tenant sees none of it.
    async with tenant_client(stack, admin) as (_, other):
        theirs = await other.get(REPORT, params=period)
    assert (theirs.status_code, theirs.json()["data"]) == (200, [])


DAY = {"start": "2026-05-01", "end": "2026-05-02"}


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ({"start": "2026-05-02", "end": "2026-05-01"}, "invalid_period", "period"),
        ({"start": "2026-05-01T10:00Z", "end": "2026-05-01T10:00Z"}, "invalid_period", "period"),
        ({"start": "2025-01-01", "end": "2026-01-03"}, "invalid_period", "period"),
        ({"start": "yesterday", "end": "2026-05-01"}, "invalid_period", "start"),
        ({"start": "2026-05-01", "end": "2026-02-30"}, "invalid_period", "end"),
        ({**DAY, "currency": "usd"}, "invalid_currency", "currency"),
        ({**DAY, "currency": "XXX"}, "invalid_currency", "currency"),
        ({**DAY, "provider": "Not a provider"}, "validation_error", "provider"),
        ({**DAY, "curency": "USD"}, "validation_error", "query.curency"),
        ({"start": "2026-05-01"}, "validation_error", "end"),
    ],
)
async def test_bad_input_is_a_422_problem(api, query, code, field):
    response = await api.get(REPORT, params=query)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert (problem["type"], problem["status"]) == (f"urn:paysaga:problem:{code}", 422)
    assert problem["code"] == code
    assert problem["errors"][0]["field"] == field
