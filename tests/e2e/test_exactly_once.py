"""Exactly once at the provider when processes die or answers are lost."""

import asyncio
from datetime import timedelta

from schemas.identity import payment_workflow_id
from schemas.runtime.temporal_client import connect
from tests.e2e.conftest import create_payment
from tests.e2e.conftest import wait_for_status
from tests.support.workflow_history import local_activities
from tests.support.workflow_history import scheduled_activities
from workflows.kit.policies import LOCAL_PROVIDER_ATTEMPT_TIMEOUT


async def assert_charged_once(gateway, finals: list[dict]) -> None:
    stats = (await gateway.get("/v1/stats")).json()
    for payment in finals:
        assert stats["charges_by_reference"][payment["payment_id"]] == 1
        assert stats["applied_by_key"][f"{payment['payment_id']}:authorize"] == 1
        assert payment["captured_amount"] == payment["amount"]


async def assert_authorized(stack, payment_ids: list[str], scheduled: list[str]) -> None:
    """Each payment's history holds one local authorize attempt, then ``scheduled``."""
    client = await connect(stack.settings())
    for payment_id in payment_ids:
        handle = client.get_workflow_handle(payment_workflow_id("ten_default", payment_id))
        history = await handle.fetch_history()
        assert local_activities(history).count("authorize_payment") == 1, payment_id
        assert scheduled_activities(history) == scheduled, payment_id


async def test_worker_sigkill_mid_flight_charges_each_payment_once(stack, api, gateway):
    # Slow the provider so authorizations are in flight when the worker dies, yet quick
    # enough for the local attempt: the killed calls ran inside their workflow tasks.
    latency = timedelta(milliseconds=1500)
    assert latency < LOCAL_PROVIDER_ATTEMPT_TIMEOUT
    await gateway.put(
        "/v1/faults",
        json={"latency_ms": latency // timedelta(milliseconds=1), "operations": ["charge"]},
    )
    try:
        requests = [
            asyncio.create_task(create_payment(api, amount=300 + i, customer_id=f"cus_crash_{i}"))
            for i in range(10)
        ]
        await asyncio.sleep(1.0)
        stack.kill_worker()
        stack.start_worker()
        responses = await asyncio.gather(*requests)
    finally:
        await gateway.delete("/v1/faults")

    assert {r.status_code for r in responses} <= {201, 202}
    payment_ids = [r.json()["payment_id"] for r in responses]
    finals = await asyncio.gather(
        *(wait_for_status(api, pid, "succeeded", seconds=90) for pid in payment_ids)
    )
    await assert_charged_once(gateway, finals)
    # A workflow task lost with the worker left no marker: the next worker ran the local
    # attempt again, under the same key, and the gateway answered it from that key.
    await assert_authorized(stack, payment_ids, scheduled=[])


async def test_worker_sigkill_on_the_fallback_path_charges_each_payment_once(stack, api, gateway):
    # Each payment's local attempt is refused (Unavailable, before anything is applied), so
    # the regular activity asks again under the same key; the provider is slow enough that
    # the worker dies while those regular calls are in flight (the gateway applies them).
    # Fewer refusals than open the provider's circuit, which would only slow the test down.
    count = stack.settings().breaker_failure_threshold - 1
    latency = timedelta(milliseconds=1500)
    await gateway.put(
        "/v1/faults",
        json={
            "fail_next": count,
            "latency_ms": latency // timedelta(milliseconds=1),
            "operations": ["charge"],
        },
    )
    try:
        requests = [
            asyncio.create_task(create_payment(api, amount=400 + i, customer_id=f"cus_slow_{i}"))
            for i in range(count)
        ]
        # The refusals come after one latency, the regular calls end after a second one.
        await asyncio.sleep((latency * 1.7).total_seconds())
        stack.kill_worker()
        stack.start_worker()
        responses = await asyncio.gather(*requests)
        payment_ids = [r.json()["payment_id"] for r in responses]
        # The killed attempts are retried once the server times them out.
        finals = await asyncio.gather(
            *(wait_for_status(api, pid, "succeeded", seconds=120) for pid in payment_ids)
        )
    finally:
        await gateway.delete("/v1/faults")

    assert {r.status_code for r in responses} <= {201, 202}
    await assert_charged_once(gateway, finals)
    await assert_authorized(stack, payment_ids, scheduled=["authorize_payment"])


async def test_lost_answer_is_retried_with_the_same_key(api, gateway):
    """The gateway applies the charge but answers after the client gave up (OutcomeUnknown)."""
    await gateway.put(
        "/v1/faults", json={"timeout_next": 1, "hang_ms": 4000, "operations": ["charge"]}
    )
    try:
        created = await create_payment(api)
    finally:
        await gateway.delete("/v1/faults")

    payment = created.json()
    assert payment["status"] == "succeeded"
    authorize = [s for s in payment["steps"] if s["name"] == "authorize_payment"]
    assert authorize[0]["outcome"] == "succeeded"
    stats = (await gateway.get("/v1/stats")).json()
    assert stats["charges_by_reference"][payment["payment_id"]] == 1
    assert stats["replays_by_key"][f"{payment['payment_id']}:authorize"] >= 1
