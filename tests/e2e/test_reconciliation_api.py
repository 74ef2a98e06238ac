"""The reconciliation report through the REST API: the ledger against the gateway's books."""

import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
import pytest

from activities.ledger import Ledger
from schemas.domain import journals
from tests.support.response_scan import RESPONSE_HOOKS
from tests.support.tenants import PAYMENT
from tests.support.tenants import bearer
from tests.support.tenants import new_tenant


@pytest.fixture
async def merchant(stack, admin):
    """A tenant of its own: the report covers exactly its payments."""
    tenant_id, key = await new_tenant(admin)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=bearer(key), event_hooks=RESPONSE_HOOKS
    ) as client:
        yield tenant_id, client


async def post(client: httpx.AsyncClient, path: str, body: dict) -> dict:
    response = await client.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def test_a_days_payments_and_refunds_reconcile_with_the_gateway(merchant, stack_db):
    tenant_id, client = merchant
    payments = [
        await post(client, "/v1/payments", {**PAYMENT, "amount": a}) for a in (1_000, 2_500)
    ]
    await post(client, f"/v1/payments/{payments[1]['payment_id']}/refunds", {"amount": 700})

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


async def test_a_future_day_is_refused(merchant):
    _, client = merchant
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

    future = await client.get("/v1/reports/reconciliation", params={"date": tomorrow})
    garbage = await client.get("/v1/reports/reconciliation", params={"date": "yesterday"})

    assert (future.status_code, future.json()["code"]) == (422, "invalid_period")
    assert garbage.status_code == 422
