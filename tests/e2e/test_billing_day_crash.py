"""A worker killed in the middle of a billing day charges no period twice."""

import asyncio
import json
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlmodel import Session
from sqlmodel import select

from schemas.store.tables import PaymentRecord

SUBSCRIPTIONS = 12


async def create_subscriptions(api, start_at: datetime) -> list[str]:
    plan = await api.post(
        "/v1/plans",
        json={"name": "Crash test", "amount": 2_500, "currency": "USD", "interval": "month"},
    )
    assert plan.status_code == 201, plan.text

    async def one(i: int) -> str:
        response = await api.post(
            "/v1/subscriptions",
            json={
                "customer_id": f"cus_billing_{uuid.uuid4().hex[:8]}_{i}",
                "plan_id": plan.json()["plan_id"],
                "payment_method": "tok_visa",
                "start_at": start_at.isoformat(),
            },
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status_code == 201, response.text
        return response.json()["subscription_id"]

    return await asyncio.gather(*(one(i) for i in range(SUBSCRIPTIONS)))


async def first_period_paid(api, subscription_id: str) -> dict:
    async with asyncio.timeout(120):
        while True:
            state = (await api.get(f"/v1/subscriptions/{subscription_id}")).json()
            if state["periods"] and state["periods"][0]["status"] == "paid":
                return state["periods"][0]
            await asyncio.sleep(0.25)


async def test_worker_killed_mid_billing_day_charges_each_period_once(
    stack, api, gateway, stack_db
):
    start_at = datetime.now(UTC) + timedelta(seconds=4)
    subscriptions = await create_subscriptions(api, start_at)
    initial = (await gateway.get("/v1/stats")).json()["charges_created"]
    # Slow charges, so the worker dies while some are at the gateway and others not sent.
    await gateway.put("/v1/faults", json={"latency_ms": 1500, "operations": ["charge"]})
    try:
        await asyncio.sleep((start_at - datetime.now(UTC)).total_seconds() + 1.0)
        at_kill = (await gateway.get("/v1/stats")).json()["charges_created"]
        stack.kill_worker()
        stack.start_worker()
        periods = await asyncio.gather(*(first_period_paid(api, s) for s in subscriptions))
    finally:
        await gateway.delete("/v1/faults")

    stats = (await gateway.get("/v1/stats")).json()
    billed = {f"{s}:0" for s in subscriptions}
    assert at_kill - initial < SUBSCRIPTIONS  # the worker died with charges still to make
    assert stats["charges_created"] - initial == SUBSCRIPTIONS
    for period in periods:
        assert period["amount"] == 2_500
        assert stats["charges_by_reference"][period["payment_id"]] == 1
        assert stats["applied_by_key"][f"{period['payment_id']}:authorize"] == 1
    with Session(stack_db) as session:
        states = session.exec(select(PaymentRecord.state_json)).all()
    keys = [json.loads(state)["metadata"].get("billing_key") for state in states]
    assert sorted(key for key in keys if key in billed) == sorted(billed)
