"""Refunds through the REST API on the embedded stack (real Temporal, gateway and SQLite)."""

import asyncio
import uuid

import httpx

from tests.e2e.conftest import create_payment

PROBLEM_JSON = "application/problem+json"


async def paid(api: httpx.AsyncClient, amount: int, **overrides) -> dict:
    response = await create_payment(api, amount=amount, **overrides)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "succeeded"
    return response.json()


async def refund(api: httpx.AsyncClient, payment_id: str, key: str | None = None, **body):
    return await api.post(
        f"/v1/payments/{payment_id}/refunds",
        json=body,
        headers={"Idempotency-Key": key or uuid.uuid4().hex},
    )


async def test_two_partial_refunds_then_a_too_large_one_is_refused(api, gateway):
    payment = await paid(api, 10_000)
    payment_id = payment["payment_id"]
    # Other sales: refunding all of one payment also gives back the fee the provider kept.
    await paid(api, 1_000)

    first = await refund(api, payment_id, amount=3_000, reason="requested_by_customer")
    second = await refund(api, payment_id, amount=4_000)
    too_large = await refund(api, payment_id, amount=3_001)

    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert first.json()["status"] == second.json()["status"] == "succeeded"
    assert first.json()["reason"] == "requested_by_customer"
    assert too_large.status_code == 422
    assert too_large.headers["content-type"] == PROBLEM_JSON
    problem = too_large.json()
    assert problem["code"] == "amount_exceeds_refundable"
    assert "3000" in problem["detail"]  # what is still refundable
    listed = (await api.get(f"/v1/payments/{payment_id}/refunds")).json()["data"]
    assert [r["amount"] for r in listed] == [3_000, 4_000]
    state = (await api.get(f"/v1/payments/{payment_id}")).json()
    assert (state["status"], state["refunded_amount"]) == ("partially_refunded", 7_000)
    one = (await api.get(f"/v1/refunds/{second.json()['refund_id']}")).json()
    assert (one["amount"], one["status"], one["payment_id"]) == (4_000, "succeeded", payment_id)
    charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
    assert charge["amount_refunded"] == 7_000

    rest = await refund(api, payment_id)
    assert (rest.status_code, rest.json()["amount"]) == (201, 3_000)
    state = (await api.get(f"/v1/payments/{payment_id}")).json()
    assert (state["status"], state["refunded_amount"]) == ("refunded", 10_000)
    again = await refund(api, payment_id, amount=1)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")


async def test_a_retried_refund_is_the_same_refund(api, gateway):
    payment = await paid(api, 5_000)
    key = uuid.uuid4().hex

    first = await refund(api, payment["payment_id"], key=key, amount=1_000)
    retried = await refund(api, payment["payment_id"], key=key, amount=1_000)
    other_body = await refund(api, payment["payment_id"], key=key, amount=2_000)

    assert retried.status_code == 201
    assert retried.json() == first.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert other_body.status_code == 422 and other_body.json()["code"] == "idempotency_mismatch"
    charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
    assert charge["amount_refunded"] == 1_000


async def test_racing_refunds_never_exceed_the_captured_amount(api, gateway):
    payment = await paid(api, 10_000)
    payment_id = payment["payment_id"]

    responses = await asyncio.gather(*(refund(api, payment_id, amount=700) for _ in range(20)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 14 + [422] * 6  # 14 * 700 <= 10,000 < 15 * 700
    assert {r.json()["code"] for r in responses if r.status_code == 422} == {
        "amount_exceeds_refundable"
    }
    succeeded = [r.json() for r in responses if r.status_code == 201]
    assert {r["status"] for r in succeeded} == {"succeeded"}
    state = (await api.get(f"/v1/payments/{payment_id}")).json()
    assert state["refunded_amount"] == 9_800
    # The gateway refunded each admitted refund exactly once, and nothing else.
    charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
    assert charge["amount_refunded"] == 9_800
    for refunded in succeeded:
        found = await gateway.get("/v1/refunds", params={"reference": refunded["refund_id"]})
        assert [r["amount"] for r in found.json()["data"]] == [700]


async def test_refunds_need_a_captured_payment_of_ones_own(api):
    held = await create_payment(api, capture_method="manual")
    assert held.status_code == 201 and held.json()["status"] == "requires_capture"

    uncaptured = await refund(api, held.json()["payment_id"])
    missing = await refund(api, f"pay_{uuid.uuid4().hex[:24]}")
    unknown_refund = await api.get(f"/v1/refunds/re_{uuid.uuid4().hex[:24]}")
    negative = await refund(api, held.json()["payment_id"], amount=-5)

    assert (uncaptured.status_code, uncaptured.json()["code"]) == (409, "invalid_state")
    assert (missing.status_code, missing.json()["code"]) == (404, "payment_not_found")
    assert (unknown_refund.status_code, unknown_refund.json()["code"]) == (404, "refund_not_found")
    assert negative.status_code == 422
    listed = await api.get(f"/v1/payments/{held.json()['payment_id']}/refunds")
    assert listed.json() == {"data": []}
