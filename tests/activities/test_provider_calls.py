"""ProviderActivities: every provider call, a payment's or a payout's, passes the circuit
breaker and is counted in the provider error metric."""

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.circuit_breaker import CircuitBreaker
from activities.provider_calls import ProviderActivities
from activities.providers.errors import rate_limited
from schemas import errors
from schemas.provider import ChargeResult
from schemas.provider import TransferResult
from schemas.provider_health import BreakerState
from tests.activities.providers.commands import authorize_command
from tests.activities.providers.commands import charge_command
from tests.activities.providers.commands import failure_of
from tests.activities.providers.commands import payout_command
from tests.activities.providers.commands import refund_command
from tests.activities.providers.commands import reversal_command
from tests.activities.providers.commands import transfer_command

THRESHOLD = 2
CHARGE = ChargeResult(reference="ch_1", status="authorized", amount=2000)
TRANSFER = TransferResult(
    reference="tr_1",
    payout_id="po_1",
    destination="acct_1",
    status="paid",
    amount=100,
    currency="USD",
)

# Each activity with a command for it: the payment saga's, the refund saga's, the payout saga's.
CALLS = {
    "authorize_payment": authorize_command("sandbox", "tok_visa"),
    "confirm_payment_action": charge_command("sandbox", CHARGE, "confirm"),
    "capture_payment": charge_command("sandbox", CHARGE, "capture"),
    "void_authorization": charge_command("sandbox", CHARGE, "void"),
    "refund_payment": charge_command("sandbox", CHARGE, "refund"),
    "create_refund": refund_command("sandbox", CHARGE, 500),
    "transfer_to_connected_account": transfer_command("sandbox", 100, "acct_1"),
    "pay_out_to_bank": payout_command("sandbox", 100, "acct_1"),
    "reverse_transfer": reversal_command("sandbox", TRANSFER, 100),
}
# The payout saga's activities and the adapter method each calls.
PAYOUT_CALLS = {
    "transfer_to_connected_account": "transfer",
    "pay_out_to_bank": "payout",
    "reverse_transfer": "reverse_transfer",
}


class Provider:
    """Stands for any adapter: records every call, and fails it with ``failure`` if set."""

    def __init__(self, failure: ApplicationError | None = None) -> None:
        self.calls: list[str] = []
        self.failure = failure

    def __getattr__(self, operation: str):
        async def call(*_args):
            self.calls.append(operation)
            if self.failure is not None:
                raise self.failure

        return call


@pytest.fixture
def breaker(engine: Engine) -> CircuitBreaker:
    return CircuitBreaker(engine, THRESHOLD, timedelta(seconds=30))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """The provider errors the activities count (provider, taxonomy kind)."""
    errors_counted: list[tuple[str, str | None]] = []
    monkeypatch.setattr(
        "activities.provider_calls.metrics.provider_error",
        lambda provider, kind: errors_counted.append((provider, kind)),
    )
    return errors_counted


async def run(activities: ProviderActivities, name: str):
    return await ActivityEnvironment().run(getattr(activities, name), CALLS[name])


@pytest.mark.parametrize("name", list(CALLS))
async def test_an_open_circuit_refuses_every_call_before_anything_is_sent(
    name: str, breaker: CircuitBreaker
) -> None:
    for attempt in range(THRESHOLD):
        breaker.record_failure("sandbox", f"503 #{attempt}")
    provider = Provider()
    activities = ProviderActivities({"sandbox": provider}, breaker)

    refused = await failure_of(run(activities, name))

    # Nothing was sent: Unavailable, retried once the circuit may admit a call again.
    assert (refused.type, refused.non_retryable) == (errors.UNAVAILABLE, False)
    assert "circuit is open" in refused.message
    assert refused.next_retry_delay is not None and refused.next_retry_delay > timedelta(0)
    assert provider.calls == []
    # A refusal is not a failure of the provider's: the count stays where it was.
    (health,) = breaker.snapshot(["sandbox"])
    assert (health.state, health.consecutive_failures) == (BreakerState.OPEN, THRESHOLD)


@pytest.mark.parametrize("name", list(PAYOUT_CALLS))
async def test_payout_calls_report_to_the_breaker_and_the_metric(
    name: str, breaker: CircuitBreaker, counted: list
) -> None:
    unavailable = Provider(ApplicationError("503", type=errors.UNAVAILABLE))
    down = ProviderActivities({"sandbox": unavailable}, breaker)
    assert (await failure_of(run(down, name))).type == errors.UNAVAILABLE
    assert breaker.snapshot(["sandbox"])[0].consecutive_failures == 1

    # A refusal by the provider is an answer: the provider is up again.
    refusing = Provider(
        ApplicationError("balance_insufficient", type=errors.DECLINED, non_retryable=True)
    )
    answered = ProviderActivities({"sandbox": refusing}, breaker)
    assert (await failure_of(run(answered, name))).type == errors.DECLINED
    assert breaker.snapshot(["sandbox"])[0].consecutive_failures == 0
    assert counted == [("sandbox", errors.UNAVAILABLE), ("sandbox", errors.DECLINED)]
    assert refusing.calls == [PAYOUT_CALLS[name]]


async def test_a_provider_not_configured_on_this_worker_is_an_invalid_request() -> None:
    activities = ProviderActivities({})
    error = await failure_of(run(activities, "transfer_to_connected_account"))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)


@pytest.mark.parametrize("name", list(CALLS))
async def test_a_providers_429_is_backpressure_not_a_failure_of_the_shared_circuit(
    name: str, breaker: CircuitBreaker, counted: list
) -> None:
    """One tenant's calls being throttled must not open the circuit every tenant shares."""
    breaker.record_failure("sandbox", "503 earlier")
    throttled = Provider(rate_limited("429 slow down", timedelta(seconds=3)))
    activities = ProviderActivities({"sandbox": throttled}, breaker)
    for _ in range(THRESHOLD * 3):
        error = await failure_of(run(activities, name))
        # Still retried by the activity's RetryPolicy, after the provider's Retry-After.
        assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
        assert error.next_retry_delay == timedelta(seconds=3)

    (health,) = breaker.snapshot(["sandbox"])
    # Neither counted as a failure nor taken as proof of health.
    assert (health.state, health.consecutive_failures) == (BreakerState.CLOSED, 1)
    assert len(throttled.calls) == THRESHOLD * 3
    assert counted == [("sandbox", errors.UNAVAILABLE)] * (THRESHOLD * 3)
