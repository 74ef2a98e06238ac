"""The reconciliation report through the REST API: the ledger against the gateway's books."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from activities.ledger import Ledger
from schemas.domain import journals
from tests.e2e.conftest import post_created
from tests.support.tenants import PAYMENT


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

    forced = (await client.get("/v1/reports/reconciliation", params={"date": today()})).json()

    assert forced["mismatches"] == [
        {
            "kind": "capture",
            "id": payments[0]["payment_id"],
            "currency": "USD",
            "ledger_amount": 1_050,
            "provider_amount": 1_000,
            "problem": "amount_differs",
        }
    ]


async def test_a_future_day_is_refused(tenant):
    _, client = tenant
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

    future = await client.get("/v1/reports/reconciliation", params={"date": tomorrow})
    garbage = await client.get("/v1/reports/reconciliation", params={"date": "yesterday"})

    assert (future.status_code, future.json()["code"]) == (422, "invalid_period")
    assert garbage.status_code == 422
