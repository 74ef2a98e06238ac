"""Plans and subscriptions through the REST API on the embedded stack (real Temporal dev
server, worker, gateway and SQLite). Real time: only the first charge happens here; the
calendar is exercised on the time-skipping server
(tests/workflows/subscription/test_subscriptions.py)."""

import asyncio
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select

from schemas.store.tables import PlanRecord
from schemas.store.tables import SubscriptionRecord

PROBLEM_JSON = "application/problem+json"


async def new_plan(api: httpx.AsyncClient, **overrides) -> dict:
    body = {"name": "Pro", "amount": 1500, "currency": "USD", "interval": "month"} | overrides
    response = await api.post("/v1/plans", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def subscription_body(plan_id: str, **overrides) -> dict:
    body = {
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "plan_id": plan_id,
        "payment_method": "tok_visa",
    }
    return body | overrides


async def subscribe(api: httpx.AsyncClient, body: dict, key: str | None = None):
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return await api.post("/v1/subscriptions", json=body, headers=headers)


async def wait_for(api, subscription_id: str, check, seconds: float = 30) -> dict:
    async with asyncio.timeout(seconds):
        while True:
            state = (await api.get(f"/v1/subscriptions/{subscription_id}")).json()
            if check(state):
                return state
            await asyncio.sleep(0.1)


def counts(engine) -> tuple[int, int]:
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(PlanRecord)).one(),
            session.exec(select(func.count()).select_from(SubscriptionRecord)).one(),
        )


async def test_plans_are_created_listed_and_read(api):
    plan = await new_plan(api, interval="year", interval_count=2, trial_days=30)

    assert plan["plan_id"].startswith("plan_")
    assert (plan["interval"], plan["interval_count"], plan["trial_days"]) == ("year", 2, 30)
    assert (await api.get(f"/v1/plans/{plan['plan_id']}")).json() == plan
    assert plan in (await api.get("/v1/plans")).json()["data"]
    missing = await api.get("/v1/plans/plan_000000000000000000000000")
    assert (missing.status_code, missing.json()["code"]) == (404, "plan_not_found")
    bad = await api.post(
        "/v1/plans", json={"name": "x", "amount": 10, "currency": "USD", "interval": "fortnight"}
    )
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM_JSON


async def test_subscription_starts_charges_and_is_idempotent(api, stack_db):
    plan = await new_plan(api)
    body = subscription_body(plan["plan_id"])
    key = uuid.uuid4().hex

    created = await subscribe(api, body, key)
    again = await subscribe(api, body, key)
    other = await subscribe(api, subscription_body(plan["plan_id"]), key)

    assert created.status_code == 201, created.text
    state = created.json()
    assert state["subscription_id"].startswith("sub_") and state["status"] == "active"
    assert state["next_charge_at"] is not None
    assert (again.status_code, again.json()) == (201, state)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_mismatch")

    paid = await wait_for(api, state["subscription_id"], lambda s: s["next_period"] == 1)
    period = paid["periods"][0]
    assert (period["status"], period["amount"], period["index"]) == ("paid", 1500, 0)
    assert period["payment_id"].startswith("pay_")
    payment = (await api.get(f"/v1/payments/{period['payment_id']}")).json()
    assert (payment["status"], payment["amount"]) == ("succeeded", 1500)
    listed = await api.get("/v1/subscriptions", params={"customer_id": body["customer_id"]})
    assert [s["subscription_id"] for s in listed.json()["data"]] == [state["subscription_id"]]


async def test_bad_requests_write_nothing(api, stack_db):
    plan = await new_plan(api)
    before = counts(stack_db)
    now = datetime.now(UTC)
    cases = [
        (
            subscription_body(plan["plan_id"], start_at=(now + timedelta(days=400)).isoformat()),
            422,
            "invalid_start_at",
        ),
        (
            subscription_body(plan["plan_id"], start_at=(now - timedelta(hours=1)).isoformat()),
            422,
            "invalid_start_at",
        ),
        (subscription_body("plan_000000000000000000000000"), 404, "plan_not_found"),
        (
            subscription_body(plan["plan_id"], payment_method="4242424242424242"),
            422,
            "invalid_payment_method",
        ),
        (
            subscription_body(plan["plan_id"], on_dunning_exhausted="forgive"),
            422,
            "validation_error",
        ),
    ]
    for body, status, code in cases:
        response = await subscribe(api, body)
        assert (response.status_code, response.json()["code"]) == (status, code), body
        assert response.headers["content-type"] == PROBLEM_JSON
    assert counts(stack_db) == before


async def test_pause_resume_change_plan_and_cancel(api):
    plan = await new_plan(api, trial_days=14)
    state = (await subscribe(api, subscription_body(plan["plan_id"]))).json()
    sub_id = state["subscription_id"]
    assert state["status"] == "trialing"
    url = f"/v1/subscriptions/{sub_id}"
    await wait_for(api, sub_id, lambda s: s["runs"] == 1)

    paused = await api.post(f"{url}/pause", json={})
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    again = await api.post(f"{url}/pause", json={})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    resumed = await api.post(f"{url}/resume")
    assert (resumed.status_code, resumed.json()["status"]) == (200, "trialing")

    euro = await new_plan(api, currency="EUR")
    refused = await api.post(f"{url}/change-plan", json={"plan_id": euro["plan_id"]})
    assert (refused.status_code, refused.json()["code"]) == (422, "plan_change_not_supported")
    assert refused.headers["content-type"] == PROBLEM_JSON
    same = await api.post(f"{url}/change-plan", json={"plan_id": plan["plan_id"]})
    assert (same.status_code, same.json()["code"]) == (422, "plan_unchanged")
    missing = await api.post(
        f"{url}/change-plan", json={"plan_id": "plan_000000000000000000000000"}
    )
    assert missing.status_code == 404
    bigger = await new_plan(api, amount=4000)
    changed = await api.post(f"{url}/change-plan", json={"plan_id": bigger["plan_id"]})
    assert changed.status_code == 200
    assert (changed.json()["plan"]["amount"], changed.json()["pending_lines"]) == (4000, [])

    at_end = await api.post(f"{url}/cancel", json={"at_period_end": True})
    assert at_end.json()["cancel_at_period_end"] is True
    canceled = await api.post(f"{url}/cancel", json={})
    assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")
    assert canceled.json()["next_charge_at"] is None
    after = await api.post(f"{url}/resume")
    assert (after.status_code, after.json()["code"]) == (409, "invalid_state")
    stored = await wait_for(api, sub_id, lambda s: s["status"] == "canceled")
    listed = await api.get("/v1/subscriptions", params={"status": "canceled"})
    assert sub_id in [s["subscription_id"] for s in listed.json()["data"]]
    assert stored["periods"] == []  # canceled in the trial: nothing was charged


async def test_unknown_subscription_is_404(api):
    for path in ("/v1/subscriptions/sub_000000000000000000000000", "/v1/subscriptions/nope"):
        response = await api.get(path)
        assert (response.status_code, response.json()["code"]) == (404, "subscription_not_found")
    response = await api.post("/v1/subscriptions/sub_000000000000000000000000/pause", json={})
    assert (response.status_code, response.json()["code"]) == (404, "subscription_not_found")
