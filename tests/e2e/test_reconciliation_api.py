"""The reconciliation report through the REST API: the ledger against the gateway's books."""

import asyncio
from collections import Counter
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlmodel import Session

from activities.ledger import Ledger
from schemas.domain import journals
from schemas.runtime.settings import Settings
from schemas.store.tables import ProviderHealthRecord
from tests.e2e.conftest import REPORT_COOLDOWN_SECONDS
from tests.e2e.conftest import post_created
from tests.support.tenants import PAYMENT
from tests.support.tenants import tenant_client

# The stack keeps the default: builds a tenant may start in an hour.
BUILDS_PER_HOUR = Settings.model_fields["reconciliation_reports_per_hour"].default


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_a_days_payments_and_refunds_reconcile_with_the_gateway(tenant, stack_db):
    tenant_id, client = tenant
    payments = [
        await post_created(client, "/v1/payments", {**PAYMENT, "amount": a}) for a in (1_000, 2_500)
    ]
    await post_created(client, f"/v1/payments/{payments[1]['payment_id']}/refunds", {"amount": 700})

    report = await client.get("/v1/reports/reconciliation", params={"date": today()})

    assert report.status_code == 200, report.text
    body = report.json()
    assert body["mismatches"] == []
    [usd] = body["totals"]
    assert usd["ledger_captured"] == usd["provider_captured"] == 3_500
    assert usd["ledger_fees"] == usd["provider_fees"] == sum(p["fee"] for p in payments) > 0
    assert usd["ledger_refunded"] == usd["provider_refunded"] == 700

    # A booking the gateway never saw shows up, item by item.
    extra = journals.capture(payments[0]["payment_id"], "sandbox", "USD", 50, 0)[0]
    extra.idempotency_key += ":forced"
    with Ledger(stack_db).transaction() as transaction:
        transaction.post(tenant_id, [extra], payment_id=payments[0]["payment_id"])

    # Within the cooldown the stored report answers; after it, a new build sees the booking.
    cached = (await client.get("/v1/reports/reconciliation", params={"date": today()})).json()
    assert cached == body
    await asyncio.sleep(REPORT_COOLDOWN_SECONDS + 0.5)
    forced = (await client.get("/v1/reports/reconciliation", params={"date": today()})).json()

    assert forced["mismatches"] == [
        {
            "kind": "capture",
            "id": payments[0]["payment_id"],
            "currency": "USD",
            "ledger_amount": 1_050,
            "provider_amount": 1_000,
            "problem": "amount_differs",
            "payment_amount": None,
            "provider_currency": None,
        }
    ]


async def test_a_future_day_is_refused(tenant):
    _, client = tenant
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

    future = await client.get("/v1/reports/reconciliation", params={"date": tomorrow})
    garbage = await client.get("/v1/reports/reconciliation", params={"date": "yesterday"})

    assert (future.status_code, future.json()["code"]) == (422, "invalid_period")
    assert garbage.status_code == 422


async def test_a_reconciliation_loop_by_one_tenant_leaves_the_others_alone(
    stack, admin, tenant, stack_db
):
    _, looper = tenant
    await post_created(looper, "/v1/payments", PAYMENT)  # today's report has items to match
    days = [(datetime.now(UTC) - timedelta(days=n)).date().isoformat() for n in range(40)]

    async def loop() -> list:
        answers = []
        for _ in range(3):
            answers += await asyncio.gather(
                *(looper.get("/v1/reports/reconciliation", params={"date": d}) for d in days)
            )
        return answers

    async with tenant_client(stack, admin) as (_, other):

        async def pay() -> list[dict]:
            return [await post_created(other, "/v1/payments", PAYMENT) for _ in range(5)]

        answers, payments = await asyncio.gather(loop(), pay())
        # The other tenant's own report is built for it: the looper's builds took none of its.
        own = await other.get("/v1/reports/reconciliation", params={"date": today()})

    assert Counter(a.status_code for a in answers).keys() <= {200, 429}
    refused = [a for a in answers if a.status_code == 429]
    assert refused
    assert {a.json()["code"] for a in refused} == {"too_many_reconciliation_reports"}
    assert all(int(a.headers["Retry-After"]) >= 1 for a in refused)
    # Each build stores a report with its own generated_at; repeats are answered from the store.
    built = {(a.json()["date"], a.json()["generated_at"]) for a in answers if a.status_code == 200}
    assert len(built) <= BUILDS_PER_HOUR
    # A past day's report built after that day is final: never built again.
    past = Counter(day for day, _ in built if day != today())
    assert set(past.values()) <= {1}
    assert [p["status"] for p in payments] == ["succeeded"] * 5
    assert own.status_code == 200, own.text
    assert own.json()["totals"][0]["ledger_captured"] == 5 * PAYMENT["amount"]
    assert own.json()["mismatches"] == []
    with Session(stack_db) as session:
        breaker = session.get(ProviderHealthRecord, "sandbox")
    assert breaker is None or breaker.opened_at is None
