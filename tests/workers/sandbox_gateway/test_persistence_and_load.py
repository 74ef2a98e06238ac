"""State survives restarts; the gateway keeps up with a payment system's load."""

import asyncio
from pathlib import Path

import httpx

from tests.support.gateway import start_gateway
from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import new_key


def test_charges_and_keys_survive_a_restart(db_path: Path) -> None:
    key, reference = new_key(), new_key("pay")
    with start_gateway(db_path) as url:
        gateway = Gateway(url)
        charge = gateway.charge(key=key, reference=reference, amount=3100).json()
        gateway.action(charge["id"], "capture", {"amount": 3000})
        gateway.close()

    with start_gateway(db_path) as url:
        gateway = Gateway(url)
        try:
            stored = gateway.get(charge["id"]).json()
            assert stored["status"] == "captured"
            assert stored["amount_captured"] == 3000
            replay = gateway.charge(key=key, reference=reference, amount=3100)
            assert replay.headers["Idempotent-Replayed"] == "true"
            assert replay.json()["id"] == charge["id"]
            stats = gateway.stats()
            assert stats["charges_by_reference"] == {reference: 1}
            assert stats["applied_by_key"][key] == 1
        finally:
            gateway.close()


async def test_sustains_a_burst_of_payments_without_errors(gateway: Gateway) -> None:
    limits = httpx.Limits(max_connections=20)
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10, limits=limits) as client:

        async def payment(i: int) -> list[int]:
            body = {
                "amount": 100 + i,
                "currency": "USD",
                "payment_method": "tok_visa",
                "capture": False,
                "reference": f"load_{i}",
            }
            charge = await client.post(
                "/v1/charges", json=body, headers={"Idempotency-Key": new_key()}
            )
            capture = await client.post(
                f"/v1/charges/{charge.json()['id']}/capture",
                json={"amount": None},
                headers={"Idempotency-Key": new_key()},
            )
            return [charge.status_code, capture.status_code]

        results = await asyncio.gather(*(payment(i) for i in range(100)))
    # Only correctness under a burst: speed belongs to `paysaga bench`, not to a timed test.
    assert all(statuses == [200, 200] for statuses in results)
