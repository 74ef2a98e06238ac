"""Provider calls are shared between tenants: one tenant's flood of payments against a slow
provider does not make another tenant's payment wait behind all of it.

Real dev server (with task queue fairness on, as the stack runs it), real worker with two
activity slots, a gateway of its own that answers every call slowly. It answers every
charge's first request only after the local attempt gave up, so every payment's call goes
on as the regular activity, answered from its key: those are the calls that wait for slots.
"""

import asyncio
from datetime import timedelta

import pytest

from schemas.payments import PaymentStatus
from tests.support.gateway import start_gateway
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.worker import running_worker
from tests.support.workflow_history import local_activities
from workflows.kit.policies import LOCAL_PROVIDER_ATTEMPT_TIMEOUT

MILLISECOND = timedelta(milliseconds=1)
FLOOD = 16
SLOTS = 2
HANG = LOCAL_PROVIDER_ATTEMPT_TIMEOUT + timedelta(seconds=5)
SLOW = {"latency_ms": 300, "timeout_after_apply_rate": 1.0, "hang_ms": HANG // MILLISECOND}


@pytest.fixture
def slow_gateway(tmp_path):
    with start_gateway(tmp_path / "gateway.db", faults=SLOW) as url:
        yield url


@pytest.fixture
async def client(local_env, settings, engine, slow_gateway):
    settings = settings.model_copy(
        update={"sandbox_gateway_url": slow_gateway, "worker_activity_slots": SLOTS}
    )
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client, settings


async def test_a_flooding_tenant_does_not_make_another_wait_behind_it(client):
    client, settings = client
    finished: list[str] = []

    async def settle(handle, tenant: str) -> None:
        state = await handle.result()
        assert state.status == PaymentStatus.SUCCEEDED, state.failure_message
        finished.append(tenant)

    flood = await asyncio.gather(
        *(
            start_payment(client, settings, payment_input(tenant_id="ten_flood"))
            for _ in range(FLOOD)
        )
    )
    single = await start_payment(client, settings, payment_input(tenant_id="ten_quiet"))
    await asyncio.gather(
        *(settle(handle, "ten_flood") for handle in flood), settle(single, "ten_quiet")
    )

    # First in, first out serves the quiet tenant after the whole flood (none of it after);
    # in turn per tenant, its call is among the next once a slot frees (most of it after).
    flood_after_quiet = len(finished) - 1 - finished.index("ten_quiet")
    assert flood_after_quiet >= FLOOD // 2, finished
    history = await single.fetch_history()
    assert "authorize_payment" in local_activities(history)  # the attempt that gave up
    keys = [
        event.activity_task_scheduled_event_attributes.priority.fairness_key
        for event in history.events
        if event.HasField("activity_task_scheduled_event_attributes")
    ]
    assert keys == ["ten_quiet"]  # its authorize-and-capture call
