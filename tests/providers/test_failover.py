"""Routing with failover: GBP card payments go to the sandbox first and to Stripe when the
sandbox is unavailable before authorizing anything, never after an ambiguous outcome; and
the shared circuit breaker that stops sending payments to a failing provider."""

import asyncio

from tests.providers.conftest import BREAKER_OPEN_SECONDS
from tests.providers.conftest import BREAKER_THRESHOLD
from tests.providers.conftest import pay
from tests.providers.conftest import stripe_object


async def test_fails_over_when_the_first_provider_is_unavailable(api, sandbox, localstripe):
    await sandbox.put("/v1/faults", json={"fail_next": 1})

    response = await pay(api, currency="GBP", payment_method="pm_card_visa")

    assert response.status_code == 201, response.text
    state = response.json()
    assert (state["status"], state["provider"]) == ("succeeded", "stripe")
    assert [(a["provider"], a["outcome"]) for a in state["provider_attempts"]] == [
        ("sandbox", "unavailable"),
        ("stripe", "succeeded"),
    ]
    assert await sandbox_charges(sandbox, state["payment_id"]) == 0
    assert await stripe_charges(localstripe, state["payment_id"]) == 1


async def test_no_failover_after_a_timeout_that_may_have_charged(api, sandbox, localstripe):
    # The sandbox applies the charge, then answers after the worker's 2 s provider timeout:
    # the outcome is unknown, so the saga retries the sandbox with the same key.
    await sandbox.put("/v1/faults", json={"timeout_next": 1, "hang_ms": 4_000})

    response = await pay(api, currency="GBP", payment_method="pm_card_visa")

    state = response.json()
    assert (state["status"], state["provider"]) == ("succeeded", "sandbox"), response.text
    assert [(a["provider"], a["outcome"]) for a in state["provider_attempts"]] == [
        ("sandbox", "succeeded")
    ]
    assert await sandbox_charges(sandbox, state["payment_id"]) == 1
    assert await stripe_charges(localstripe, state["payment_id"]) == 0


async def test_an_open_circuit_sends_payments_straight_to_the_next_provider(api, sandbox):
    await sandbox.put("/v1/faults", json={"fail_next": BREAKER_THRESHOLD})
    for _ in range(BREAKER_THRESHOLD):
        failed_over = (await pay(api, currency="GBP", payment_method="pm_card_visa")).json()
        assert failed_over["provider"] == "stripe"
    assert (await health(api))["sandbox"]["state"] == "open"

    skipped = (await pay(api, currency="GBP", payment_method="pm_card_visa")).json()

    assert (skipped["status"], skipped["provider"]) == ("succeeded", "stripe")
    first = skipped["provider_attempts"][0]
    assert (first["provider"], first["outcome"]) == ("sandbox", "unavailable")
    assert "circuit" in first["detail"]
    assert await sandbox_charges(sandbox, skipped["payment_id"]) == 0  # never called

    # Once the circuit has been open long enough, one probe goes through and closes it.
    await asyncio.sleep(BREAKER_OPEN_SECONDS + 0.5)
    probe = (await pay(api, currency="GBP", payment_method="pm_card_visa")).json()
    assert (probe["status"], probe["provider"]) == ("succeeded", "sandbox")
    sandbox_health = (await health(api))["sandbox"]
    assert (sandbox_health["state"], sandbox_health["consecutive_failures"]) == ("closed", 0)


async def health(api) -> dict[str, dict]:
    response = await api.get("/v1/providers/health")
    assert response.status_code == 200, response.text
    return {entry["provider"]: entry for entry in response.json()["data"]}


async def sandbox_charges(sandbox, payment_id: str) -> int:
    stats = (await sandbox.get("/v1/stats")).json()
    return stats["charges_by_reference"].get(payment_id, 0)


async def stripe_charges(localstripe: str, payment_id: str) -> int:
    """PaymentIntents made for the payment: every page (localstripe cannot filter)."""
    count, after = 0, ""
    while True:
        page = await stripe_object(localstripe, f"/v1/payment_intents?limit=100{after}")
        count += sum(i["metadata"].get("payment_id") == payment_id for i in page["data"])
        if not page.get("has_more") or not page["data"]:
            return count
        after = f"&starting_after={page['data'][-1]['id']}"
