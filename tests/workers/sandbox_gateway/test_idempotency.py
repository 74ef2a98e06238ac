"""Idempotency keys: replays, mismatches, concurrency, scoping."""

import asyncio

import httpx

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import charge_body
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key


def test_same_key_same_body_replays_without_a_second_charge(gateway: Gateway) -> None:
    key, reference = new_key(), new_key("pay")
    first = gateway.charge(key=key, reference=reference)
    second = gateway.charge(key=key, reference=reference)
    assert first.status_code == second.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()

    stats = gateway.stats()
    assert stats["charges_by_reference"][reference] == 1
    assert stats["applied_by_key"][key] == 1
    assert stats["replays_by_key"][key] == 1


def test_same_key_other_body_is_422(gateway: Gateway) -> None:
    key, reference = new_key(), new_key("pay")
    assert gateway.charge(key=key, reference=reference, amount=100).status_code == 200
    response = gateway.charge(key=key, reference=reference, amount=200)
    assert response.status_code == 422
    assert response.json()["error"]["type"] == "idempotency_error"
    assert error_code(response) == "idempotency_mismatch"
    assert gateway.stats()["charges_by_reference"][reference] == 1


async def test_concurrent_requests_with_one_key_apply_once(gateway: Gateway) -> None:
    key, reference = new_key(), new_key("pay")
    body = charge_body(amount=4200, capture=True, reference=reference, customer_id=None)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/charges", json=body, headers={"Idempotency-Key": key})
                for _ in range(10)
            )
        )
    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
    stats = gateway.stats()
    assert stats["charges_by_reference"][reference] == 1
    assert stats["applied_by_key"][key] == 1
    assert stats["replays_by_key"][key] == 9


async def test_concurrent_captures_with_different_keys_capture_once(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=500)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"/v1/charges/{charge['id']}/capture",
                    json={"amount": None},
                    headers={"Idempotency-Key": new_key()},
                )
                for _ in range(5)
            )
        )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409, 409]
    assert gateway.get(charge["id"]).json()["amount_captured"] == 500


def test_keys_are_scoped_to_the_path(gateway: Gateway) -> None:
    first, second = gateway.authorized(), gateway.authorized()
    key = new_key()
    assert gateway.action(first["id"], "capture", key=key).json()["status"] == "captured"
    response = gateway.action(second["id"], "capture", key=key)
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers
    assert response.json()["id"] == second["id"]
    assert gateway.stats()["applied_by_key"][key] == 2


def test_capture_replay_returns_the_stored_answer(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=800)
    key = new_key()
    first = gateway.action(charge["id"], "capture", {"amount": 300}, key=key)
    gateway.action(charge["id"], "refund", {"amount": 100})
    replay = gateway.action(charge["id"], "capture", {"amount": 300}, key=key)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()  # the answer of then, not today's state
    assert gateway.stats()["operations"]["capture"] >= 1


def test_errors_that_change_nothing_are_not_stored(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=800)
    key = new_key()
    too_much = gateway.action(charge["id"], "capture", {"amount": 900}, key=key)
    assert too_much.status_code == 400
    assert key not in gateway.stats()["applied_by_key"]
    # The same key can then carry a correct request.
    assert gateway.action(charge["id"], "capture", {"amount": 800}, key=key).status_code == 200
