"""Fault injection: errors before applying, hangs after applying, latency."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import start_gateway
from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import charge_body
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key


def test_fail_next_answers_503_then_the_retry_applies_once(gateway: Gateway) -> None:
    gateway.set_faults(fail_next=2)
    key, reference = new_key(), new_key("pay")
    for _ in range(2):
        response = gateway.charge(key=key, reference=reference)
        assert response.status_code == 503
        assert response.json()["error"] == {
            "type": "api_error",
            "code": "unavailable",
            "message": response.json()["error"]["message"],
        }
    assert reference not in gateway.stats()["charges_by_reference"]
    assert gateway.http.get("/v1/faults").json()["fail_next"] == 0

    response = gateway.charge(key=key, reference=reference)
    assert response.status_code == 200
    assert "Idempotent-Replayed" not in response.headers
    stats = gateway.stats()
    assert stats["charges_by_reference"][reference] == 1
    assert stats["applied_by_key"][key] == 1


def test_timeout_after_apply_then_retry_with_the_same_key(gateway: Gateway) -> None:
    gateway.set_faults(timeout_next=1, hang_ms=20_000)
    key, reference = new_key(), new_key("pay")
    body = charge_body(amount=1234, capture=True, reference=reference, customer_id=None)
    headers = {"Idempotency-Key": key}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{gateway.base_url}/v1/charges", json=body, headers=headers, timeout=0.5)
    # The charge exists although the client saw a timeout.
    assert gateway.stats()["charges_by_reference"][reference] == 1

    retry = gateway.post("/v1/charges", body, key=key)
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["status"] == "captured"
    stats = gateway.stats()
    assert stats["charges_by_reference"][reference] == 1
    assert stats["applied_by_key"][key] == 1


def test_replays_are_not_subject_to_failures(gateway: Gateway) -> None:
    key, reference = new_key(), new_key("pay")
    assert gateway.charge(key=key, reference=reference).status_code == 200
    gateway.set_faults(error_rate=1.0, timeout_after_apply_rate=1.0, hang_ms=30_000)
    started = time.monotonic()
    replay = gateway.charge(key=key, reference=reference)
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert time.monotonic() - started < 15  # far below the 30 s hang a fault would add
    assert gateway.charge().status_code == 503


def test_latency_delays_matching_operations(gateway: Gateway) -> None:
    gateway.set_faults(latency_ms=3000, operations=["capture"])
    started = time.monotonic()
    charge = gateway.authorized()
    assert time.monotonic() - started < 2.5  # charges do not match: no 3 s delay
    started = time.monotonic()
    assert gateway.action(charge["id"], "capture").status_code == 200
    assert time.monotonic() - started >= 3.0


def test_operations_filter_limits_failures(gateway: Gateway) -> None:
    gateway.set_faults(error_rate=1.0, operations=["refund"])
    charge = gateway.authorized(capture=True)
    assert gateway.action(charge["id"], "refund", {"amount": 1}).status_code == 503
    gateway.http.delete("/v1/faults")
    assert gateway.action(charge["id"], "refund", {"amount": 1}).status_code == 200


def test_error_rate_is_a_fraction(gateway: Gateway) -> None:
    gateway.set_faults(error_rate=0.5)
    statuses = [gateway.charge().status_code for _ in range(60)]
    assert 10 < statuses.count(503) < 50
    assert statuses.count(200) + statuses.count(503) == 60


async def test_a_hanging_request_does_not_block_others(gateway: Gateway) -> None:
    gateway.set_faults(timeout_next=1, hang_ms=20_000)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=5) as client:

        async def charge() -> httpx.Response:
            body = {
                "amount": 100,
                "currency": "USD",
                "payment_method": "tok_visa",
                "capture": False,
                "reference": new_key("pay"),
            }
            return await client.post(
                "/v1/charges", json=body, headers={"Idempotency-Key": new_key()}
            )

        hanging = asyncio.create_task(charge())
        await asyncio.sleep(0.2)
        others = await asyncio.gather(*(charge() for _ in range(20)))
        # All answered while the first one still hangs: the hang blocks nothing else.
        assert all(r.status_code == 200 for r in others)
        assert not hanging.done()
        hanging.cancel()


def test_fault_configuration_round_trip_and_validation(gateway: Gateway) -> None:
    config = gateway.set_faults(latency_ms=5, error_rate=0.25, operations=["charge", "void"])
    assert config == {
        "latency_ms": 5,
        "error_rate": 0.25,
        "fail_next": 0,
        "timeout_after_apply_rate": 0.0,
        "timeout_next": 0,
        "hang_ms": 30000,
        "operations": ["charge", "void"],
    }
    assert gateway.http.get("/v1/faults").json() == config
    for bad in ({"error_rate": 1.5}, {"operations": ["teleport"]}, {"latency_ms": -1}):
        response = gateway.http.put("/v1/faults", json=bad)
        assert response.status_code == 400, bad
        assert error_code(response) == "parameter_invalid"
    reset = gateway.http.delete("/v1/faults").json()
    assert reset["error_rate"] == 0 and reset["operations"] is None


def test_faults_from_the_command_line(tmp_path: Path) -> None:
    with start_gateway(tmp_path / "gateway.db", faults={"fail_next": 1}) as url:
        gateway = Gateway(url)
        try:
            assert gateway.http.get("/v1/faults").json()["fail_next"] == 1
            key = new_key()
            assert gateway.charge(key=key, reference="pay_cli").status_code == 503
            assert gateway.charge(key=key, reference="pay_cli").status_code == 200
        finally:
            gateway.close()
