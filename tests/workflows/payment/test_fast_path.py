"""The first attempt of a payment's authorization runs as a local activity, in the workflow
task that screened the payment; a failure that is retried goes on as the regular activity
under the same idempotency key. Real dev server, real worker, real sandbox gateway."""

import pytest

from schemas.payments import PaymentStatus
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.worker import running_worker
from tests.support.workflow_history import completed_workflow_tasks
from tests.support.workflow_history import local_activities
from tests.support.workflow_history import scheduled_activities
from workflows.kit.policies import LOCAL_PROVIDER_ATTEMPT_TIMEOUT


@pytest.fixture
async def client(local_env, settings, engine):
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client


@pytest.fixture
async def faults(gateway):
    """Sets the gateway's faults for the test's charges; cleared after it, whatever is left."""

    async def put(**config) -> None:
        response = await gateway.put("/v1/faults", json={**config, "operations": ["charge"]})
        response.raise_for_status()

    yield put
    await gateway.delete("/v1/faults")


async def charged_once(gateway, payment_id: str) -> dict:
    stats = (await gateway.get("/v1/stats")).json()
    assert stats["charges_by_reference"][payment_id] == 1
    assert stats["applied_by_key"][f"{payment_id}:authorize"] == 1
    return stats


async def test_a_provider_that_answers_at_once_takes_one_workflow_task(client, settings, gateway):
    payment = payment_input()
    handle = await start_payment(client, settings, payment)

    state = await handle.result()

    assert state.status == PaymentStatus.SUCCEEDED, state.failure_message
    await charged_once(gateway, payment.payment_id)
    history = await handle.fetch_history()
    assert scheduled_activities(history) == []
    assert local_activities(history) == ["screen_payment", "authorize_payment", "record_payment"]
    # Screened, authorized and captured, booked, completed: all in the first workflow task.
    assert completed_workflow_tasks(history) == 1


async def test_a_retried_failure_goes_on_as_the_regular_activity(client, settings, gateway, faults):
    # Unavailable before applying anything, and no provider to fail over to: retried.
    await faults(fail_next=1)
    payment = payment_input()
    handle = await start_payment(client, settings, payment)

    state = await handle.result()

    assert state.status == PaymentStatus.SUCCEEDED, state.failure_message
    assert [(a.provider, a.outcome) for a in state.provider_attempts] == [("sandbox", "succeeded")]
    await charged_once(gateway, payment.payment_id)
    history = await handle.fetch_history()
    assert local_activities(history) == ["screen_payment", "authorize_payment", "record_payment"]
    assert scheduled_activities(history) == ["authorize_payment"]


async def test_a_charge_applied_by_a_timed_out_local_attempt_is_not_made_again(
    client, settings, gateway, faults
):
    # Applied, then no answer until well after the local attempt gave up.
    hang = LOCAL_PROVIDER_ATTEMPT_TIMEOUT.total_seconds() + 2
    await faults(timeout_next=1, hang_ms=int(hang * 1000))
    payment = payment_input()
    handle = await start_payment(client, settings, payment)

    state = await handle.result()

    assert state.status == PaymentStatus.SUCCEEDED, state.failure_message
    authorize = [step for step in state.steps if step.name == "authorize_payment"]
    assert [step.outcome for step in authorize] == ["succeeded"]
    stats = await charged_once(gateway, payment.payment_id)
    assert stats["replays_by_key"][f"{payment.payment_id}:authorize"] >= 1
    history = await handle.fetch_history()
    assert scheduled_activities(history) == ["authorize_payment"]


async def test_a_decline_on_the_local_attempt_is_final(client, settings):
    payment = payment_input(payment_method="tok_chargeDeclined")
    handle = await start_payment(client, settings, payment)

    state = await handle.result()

    assert (state.status, state.failure_code) == (PaymentStatus.DECLINED, "generic_decline")
    assert [(a.provider, a.outcome) for a in state.provider_attempts] == [("sandbox", "declined")]
    history = await handle.fetch_history()
    assert "authorize_payment" in local_activities(history)
    assert scheduled_activities(history) == []
