"""SandboxGateway against the real gateway subprocess: results and the error taxonomy."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from activities.providers.sandbox import SandboxGateway
from schemas import errors
from schemas.provider import AuthorizeCommand, ChargeCommand, ChargeResult, DeclineDetails
from tests.support.gateway import GatewayProcess, free_port, start_gateway


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_gateway(tmp_path_factory.mktemp("provider") / "gateway.db") as url:
        yield url


@pytest.fixture(scope="module")
async def admin_client(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        yield client


@pytest.fixture
async def admin(admin_client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """Direct HTTP access for what a merchant cannot do: faults, stats, the customer's 3DS."""
    yield admin_client
    await admin_client.delete("/v1/faults")


@pytest.fixture(scope="module")
async def provider(gateway_url: str) -> AsyncIterator[SandboxGateway]:
    gateway = SandboxGateway(gateway_url, timeout_seconds=5)
    yield gateway
    await gateway.aclose()


def authorize_command(payment_method: str = "tok_visa", **overrides) -> AuthorizeCommand:
    payment_id = f"pay_{uuid.uuid4().hex[:24]}"
    fields = {
        "payment_id": payment_id,
        "provider": "sandbox",
        "amount": 2000,
        "currency": "USD",
        "payment_method": payment_method,
        "customer_id": "cus_test",
        "capture": False,
        "idempotency_key": f"{payment_id}:authorize",
    }
    return AuthorizeCommand(**(fields | overrides))


def charge_command(charge: ChargeResult, step: str, amount: int | None = None) -> ChargeCommand:
    return ChargeCommand(
        payment_id="pay_test",
        provider="sandbox",
        reference=charge.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{charge.reference}:{step}:{uuid.uuid4().hex[:6]}",
    )


async def failure_of(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await call
    return raised.value


def test_implements_the_provider_protocol(provider: SandboxGateway) -> None:
    assert isinstance(provider, PaymentProvider)


async def test_authorize_capture_refund(provider: SandboxGateway) -> None:
    charge = await provider.authorize(authorize_command(amount=2000))
    assert charge.reference.startswith("ch_")
    assert (charge.status, charge.amount, charge.authorized_amount) == ("authorized", 2000, 2000)

    captured = await provider.capture(charge_command(charge, "capture", 1500))
    assert (captured.status, captured.captured_amount) == ("captured", 1500)

    partial = await provider.refund(charge_command(charge, "refund", 500))
    assert (partial.status, partial.refunded_amount) == ("captured", 500)
    rest = await provider.refund(charge_command(charge, "refund"))
    assert (rest.status, rest.refunded_amount) == ("refunded", 1500)
    assert await provider.retrieve(charge.reference) == rest


async def test_authorize_and_capture_in_one_call(provider: SandboxGateway) -> None:
    charge = await provider.authorize(authorize_command(capture=True, amount=999))
    assert (charge.status, charge.captured_amount) == ("captured", 999)


async def test_void(provider: SandboxGateway) -> None:
    charge = await provider.authorize(authorize_command())
    assert (await provider.void(charge_command(charge, "void"))).status == "voided"


async def test_same_idempotency_key_returns_the_same_charge(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    command = authorize_command()
    first = await provider.authorize(command)
    again = await provider.authorize(command)
    assert again == first
    assert (await admin.get("/v1/stats")).json()["applied_by_key"][command.idempotency_key] == 1


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_chargeDeclined", "generic_decline"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_expiredCard", "expired_card"),
        ("tok_processingError", "processing_error"),
    ],
)
async def test_declines_are_final(provider: SandboxGateway, token: str, code: str) -> None:
    error = await failure_of(provider.authorize(authorize_command(token)))
    assert error.type == errors.DECLINED
    assert error.non_retryable
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert details.code == code
    assert details.message


async def test_refused_capture_is_a_decline(provider: SandboxGateway) -> None:
    charge = await provider.authorize(authorize_command("tok_captureFails", capture=True))
    assert charge.status == "authorized"  # the hold exists; the capture part failed
    error = await failure_of(provider.capture(charge_command(charge, "capture")))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    assert error.details[0].code == "capture_failed"


async def test_three_d_secure(provider: SandboxGateway, admin: httpx.AsyncClient) -> None:
    charge = await provider.authorize(authorize_command("tok_threeDSecureRequired"))
    assert charge.status == "requires_action"
    assert charge.next_action_url.endswith(f"/v1/charges/{charge.reference}/3ds")

    waiting = await provider.confirm_action(charge_command(charge, "confirm"))
    assert waiting.status == "requires_action"

    await admin.post(f"/v1/charges/{charge.reference}/3ds/complete", json={"outcome": "succeed"})
    confirmed = await provider.confirm_action(charge_command(charge, "confirm"))
    assert (confirmed.status, confirmed.authorized_amount) == ("authorized", 2000)
    assert confirmed.next_action_url is None


async def test_failed_three_d_secure_is_a_decline(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    charge = await provider.authorize(authorize_command("tok_threeDSecureRequired"))
    await admin.post(f"/v1/charges/{charge.reference}/3ds/complete", json={"outcome": "fail"})
    error = await failure_of(provider.confirm_action(charge_command(charge, "confirm")))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    assert error.details[0].code == "authentication_failed"
    retrieved = await failure_of(provider.retrieve(charge.reference))
    assert retrieved.type == errors.DECLINED


async def test_invalid_requests_are_final(provider: SandboxGateway) -> None:
    token = "tok_notAKnownTestToken"
    unknown_token = await failure_of(provider.authorize(authorize_command(token)))
    assert (unknown_token.type, unknown_token.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "token_not_found" in unknown_token.message
    assert token not in unknown_token.message  # only its first 8 characters

    charge = await provider.authorize(authorize_command(amount=100))
    too_much = await failure_of(provider.capture(charge_command(charge, "capture", 101)))
    assert (too_much.type, too_much.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "amount_too_large" in too_much.message

    await provider.void(charge_command(charge, "void"))
    wrong_state = await failure_of(provider.capture(charge_command(charge, "capture")))
    assert (wrong_state.type, wrong_state.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "409" in wrong_state.message and "charge_state" in wrong_state.message

    missing = await failure_of(provider.retrieve("ch_missing"))
    assert (missing.type, missing.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "resource_missing" in missing.message


async def test_reused_key_with_another_request_is_invalid(provider: SandboxGateway) -> None:
    command = authorize_command()
    await provider.authorize(command)
    error = await failure_of(provider.authorize(command.model_copy(update={"amount": 1})))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "idempotency_mismatch" in error.message


async def test_503_is_unavailable_and_the_retry_succeeds(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await admin.put("/v1/faults", json={"fail_next": 1})
    command = authorize_command()
    error = await failure_of(provider.authorize(command))
    assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
    assert (await provider.authorize(command)).status == "authorized"


async def test_timeout_after_apply_is_outcome_unknown_and_retry_is_exactly_once(
    gateway_url: str, admin: httpx.AsyncClient
) -> None:
    await admin.put("/v1/faults", json={"timeout_next": 1, "hang_ms": 2000})
    command = authorize_command(capture=True)
    async with SandboxGateway(gateway_url, timeout_seconds=0.5) as impatient:
        error = await failure_of(impatient.authorize(command))
        assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
        assert isinstance(error.__cause__, httpx.ReadTimeout)

        charge = await impatient.authorize(command)  # what the activity retry does
    assert charge.status == "captured"
    stats = (await admin.get("/v1/stats")).json()
    assert stats["charges_by_reference"][command.payment_id] == 1
    assert stats["applied_by_key"][command.idempotency_key] == 1


async def test_closed_port_is_unavailable() -> None:
    async with SandboxGateway(f"http://127.0.0.1:{free_port()}", timeout_seconds=1) as nowhere:
        error = await failure_of(nowhere.authorize(authorize_command()))
        assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
        retrieve = await failure_of(nowhere.retrieve("ch_x"))
        assert retrieve.type == errors.UNAVAILABLE


@pytest.mark.parametrize("ending", ["crash", "shutdown"])
async def test_gateway_dying_mid_request_is_outcome_unknown(tmp_path: Path, ending: str) -> None:
    """The gateway applies the charge, then dies before answering: a crash drops the connection
    (RemoteProtocolError), a shutdown answers 500. Either way the retry after a restart replays
    the stored charge instead of creating a second one."""
    db_path = tmp_path / "gateway.db"
    command = authorize_command()
    gateway = GatewayProcess(db_path, faults={"timeout_next": 1, "hang_ms": 30000})
    url = gateway.start()
    try:
        async with SandboxGateway(url, timeout_seconds=20) as provider:
            call = asyncio.create_task(provider.authorize(command))
            await _until_applied(url, command.idempotency_key)
            await asyncio.to_thread(gateway.kill if ending == "crash" else gateway.stop)
            error = await failure_of(call)
    finally:
        gateway.stop()
    assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
    if ending == "shutdown":
        assert "500" in error.message
        return
    assert isinstance(error.__cause__, httpx.RemoteProtocolError)

    with start_gateway(db_path) as url:
        async with SandboxGateway(url, timeout_seconds=5) as provider:
            charge = await provider.authorize(command)
        async with httpx.AsyncClient(base_url=url) as admin:
            stats = (await admin.get("/v1/stats")).json()
    assert charge.status == "authorized"
    assert stats["applied_by_key"] == {command.idempotency_key: 1}
    assert stats["replays_by_key"] == {command.idempotency_key: 1}


async def _until_applied(url: str, key: str) -> None:
    async with httpx.AsyncClient(base_url=url) as admin:
        for _ in range(200):
            if key in (await admin.get("/v1/stats")).json()["applied_by_key"]:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"{key} was never applied")
