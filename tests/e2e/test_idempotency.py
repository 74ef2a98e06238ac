"""Idempotency-Key through the real API: replay, mismatch, concurrency, takeover, retention."""

import asyncio
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import text

from tests.e2e.conftest import create_payment
from tests.e2e.conftest import payment_body

REPLAYED = "Idempotent-Replayed"


def set_key_row(stack_db, key: str, **values) -> None:
    """Rewrite a key's row as a crashed API process or the passing of time would leave it."""
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with stack_db.begin() as connection:
        updated = connection.execute(
            text(f"UPDATE idempotent_requests SET {assignments} WHERE key = :key"),  # noqa: S608
            {**values, "key": key},
        ).rowcount
    assert updated == 1


async def test_the_first_response_is_replayed_byte_for_byte_and_charged_once(api, gateway):
    key = {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    body = payment_body()
    first = await api.post("/v1/payments", json=body, headers=key)
    second = await api.post("/v1/payments", json=body, headers=key)

    assert first.status_code == second.status_code == 201
    assert REPLAYED not in first.headers
    assert second.headers[REPLAYED] == "true"
    assert second.content == first.content
    stats = (await gateway.get("/v1/stats")).json()
    assert stats["charges_by_reference"][first.json()["payment_id"]] == 1


async def test_an_error_answer_is_replayed_and_another_endpoint_is_a_mismatch(api):
    payment = (await create_payment(api, capture_method="manual", amount=5000)).json()
    assert payment["status"] == "requires_capture"
    key = {"Idempotency-Key": f"capture-{uuid.uuid4().hex}"}
    capture = f"/v1/payments/{payment['payment_id']}/capture"

    too_much = await api.post(capture, json={"amount": 5001}, headers=key)
    again = await api.post(capture, json={"amount": 5001}, headers=key)
    assert (too_much.status_code, too_much.json()["code"]) == (422, "amount_exceeds_authorized")
    assert (again.status_code, again.content) == (422, too_much.content)
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"] == "application/problem+json"

    for method, url, json in [
        ("POST", capture, {"amount": 100}),
        ("POST", f"/v1/payments/{payment['payment_id']}/cancel", None),
        ("POST", "/v1/payments", payment_body()),
    ]:
        response = await api.request(method, url, json=json, headers=key)
        assert (response.status_code, response.json()["code"]) == (422, "idempotency_mismatch")

    captured = await api.post(capture, json={"amount": 5000}, headers={"Idempotency-Key": "c2"})
    assert captured.json()["captured_amount"] == 5000


async def test_concurrent_requests_with_one_key_start_one_payment(api, gateway):
    # The charge takes a second, so the other requests arrive while the first one runs.
    await gateway.put("/v1/faults", json={"latency_ms": 1000, "operations": ["charge"]})
    try:
        key = {"Idempotency-Key": f"storm-{uuid.uuid4().hex}"}
        body = payment_body()
        responses = await asyncio.gather(
            *(api.post("/v1/payments", json=body, headers=key) for _ in range(8))
        )
    finally:
        await gateway.delete("/v1/faults")

    executed = [r for r in responses if r.status_code == 201 and REPLAYED not in r.headers]
    assert len(executed) == 1
    payment_id = executed[0].json()["payment_id"]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_in_progress"
            assert response.headers["Retry-After"] == "1"
        else:
            assert (response.status_code, response.json()["payment_id"]) == (201, payment_id)
    assert any(r.status_code == 409 for r in responses)
    after = await api.post("/v1/payments", json=body, headers=key)
    assert (after.headers[REPLAYED], after.content) == ("true", executed[0].content)
    stats = (await gateway.get("/v1/stats")).json()
    assert stats["charges_by_reference"][payment_id] == 1


async def test_a_request_that_died_holding_the_key_is_taken_over_after_the_timeout(
    api, gateway, stack_db
):
    key = f"crash-{uuid.uuid4().hex}"
    body = payment_body()
    first = await api.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    payment_id = first.json()["payment_id"]

    # As if the API process had been killed after claiming the key: no answer stored.
    now = datetime.now(UTC)
    dead = {"response_status": None, "response_body": None, "locked_by": "dead"}
    set_key_row(stack_db, key, **dead, locked_at=now)
    held = await api.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert (held.status_code, held.json()["code"]) == (409, "idempotency_in_progress")

    set_key_row(stack_db, key, **dead, locked_at=now - timedelta(minutes=5))
    retried = await api.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert (retried.status_code, retried.json()["payment_id"]) == (201, payment_id)
    assert REPLAYED not in retried.headers
    stats = (await gateway.get("/v1/stats")).json()
    assert stats["charges_by_reference"][payment_id] == 1


async def test_a_key_past_the_retention_window_is_a_new_request(api, stack_db):
    key = f"old-{uuid.uuid4().hex}"
    first = await api.post("/v1/payments", json=payment_body(), headers={"Idempotency-Key": key})
    within = await api.post(
        "/v1/payments", json=payment_body(amount=7), headers={"Idempotency-Key": key}
    )
    assert within.json()["code"] == "idempotency_mismatch"

    set_key_row(stack_db, key, created_at=datetime.now(UTC) - timedelta(hours=24, minutes=1))
    later = await api.post(
        "/v1/payments", json=payment_body(amount=7), headers={"Idempotency-Key": key}
    )
    assert later.status_code == 201
    assert later.json()["payment_id"] != first.json()["payment_id"]
