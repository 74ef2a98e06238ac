"""SandboxGateway against the real gateway subprocess: results and the error taxonomy."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from activities.providers.sandbox.adapter import SandboxGateway
from schemas import errors
from schemas.provider import (
    AuthorizeCommand,
    ChargeCommand,
    ChargeResult,
    DeclineDetails,
    PayoutCommand,
    RefundCommand,
    TransferCommand,
    TransferReversalCommand,
)
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
        transfer = await failure_of(nowhere.transfer(transfer_command(100, new_id("acct"))))
        assert (transfer.type, transfer.non_retryable) == (errors.UNAVAILABLE, False)
        for find in (nowhere.find_charge, nowhere.find_refund, nowhere.find_payout):
            assert (await failure_of(find("x"))).type == errors.UNAVAILABLE
        now = datetime.now(UTC)
        listing = await failure_of(nowhere.list_transactions(now - timedelta(hours=1), now))
        assert listing.type == errors.UNAVAILABLE


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


# Fees, refund objects, transfers, payouts and the balance transaction list.


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def refund_command(charge: ChargeResult, amount: int, **overrides) -> RefundCommand:
    refund_id = new_id("re")
    fields = {
        "refund_id": refund_id,
        "payment_id": "pay_test",
        "provider": "sandbox",
        "charge_reference": charge.reference,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{refund_id}:refund",
    }
    return RefundCommand(**(fields | overrides))


def transfer_command(amount: int, destination: str, **overrides) -> TransferCommand:
    payout_id = new_id("po")
    fields = {
        "payout_id": payout_id,
        "provider": "sandbox",
        "destination": destination,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{payout_id}:transfer",
    }
    return TransferCommand(**(fields | overrides))


def reversal_command(transfer, amount: int) -> TransferReversalCommand:
    return TransferReversalCommand(
        payout_id=transfer.payout_id,
        provider="sandbox",
        transfer_reference=transfer.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{transfer.payout_id}:reverse_transfer:{uuid.uuid4().hex[:6]}",
    )


def payout_command(
    amount: int, destination: str, bank_account: str = "ba_ok", **overrides
) -> PayoutCommand:
    payout_id = new_id("po")
    fields = {
        "payout_id": payout_id,
        "provider": "sandbox",
        "destination": destination,
        "bank_account": bank_account,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{payout_id}:payout",
    }
    return PayoutCommand(**(fields | overrides))


async def platform_available(admin: httpx.AsyncClient, account: str | None = None) -> int:
    params = {"account": account} if account else {}
    balances = (await admin.get("/v1/balance", params=params)).json()["available"]
    return sum(row["amount"] for row in balances if row["currency"] == "USD")


async def funded(provider: SandboxGateway, amount: int = 10_000) -> ChargeResult:
    """A captured charge, so the platform has money to transfer."""
    return await provider.authorize(authorize_command(capture=True, amount=amount))


async def test_fees_are_reported_once_captured(provider: SandboxGateway) -> None:
    at_once = await provider.authorize(authorize_command(capture=True, amount=1999))
    assert (at_once.status, at_once.captured_amount, at_once.fee) == ("captured", 1999, 88)

    held = await provider.authorize(authorize_command(amount=2000))
    assert held.fee == 0
    captured = await provider.capture(charge_command(held, "capture", 1500))
    assert (captured.captured_amount, captured.fee) == (1500, 74)  # 43.5 → 44, + 30
    assert (await provider.retrieve(held.reference)).fee == 74


async def test_find_charge_by_payment_id(provider: SandboxGateway) -> None:
    command = authorize_command(capture=True, amount=700)
    charge = await provider.authorize(command)
    assert await provider.find_charge(command.payment_id) == charge
    assert await provider.find_charge(new_id("pay")) is None


async def test_partial_refunds_as_objects_found_by_refund_id(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    charge = await funded(provider, 1000)
    first_command = refund_command(charge, 300)
    first = await provider.create_refund(first_command)
    assert first.reference.startswith("rf_")
    assert first.model_dump() == {
        "reference": first.reference,
        "refund_id": first_command.refund_id,
        "charge_reference": charge.reference,
        "status": "succeeded",
        "amount": 300,
        "currency": "USD",
        "failure_code": None,
        "failure_message": None,
    }
    second = await provider.create_refund(refund_command(charge, 700))
    assert await provider.find_refund(first_command.refund_id) == first
    assert await provider.find_refund(second.refund_id) == second
    assert await provider.find_refund(new_id("re")) is None
    after = await provider.retrieve(charge.reference)
    assert (after.status, after.refunded_amount) == ("refunded", 1000)

    # Same command again (an activity retry): the stored answer, applied once.
    assert await provider.create_refund(first_command) == first
    stats = (await admin.get("/v1/stats")).json()
    assert stats["applied_by_key"][first_command.idempotency_key] == 1
    assert stats["replays_by_key"][first_command.idempotency_key] == 1

    over = await failure_of(provider.create_refund(refund_command(charge, 1)))
    assert (over.type, over.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "charge_state" in over.message
    partly = await funded(provider, 500)
    await provider.create_refund(refund_command(partly, 200))
    too_much = await failure_of(provider.create_refund(refund_command(partly, 301)))
    assert (too_much.type, too_much.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "amount_too_large" in too_much.message


async def test_refund_of_a_refund_failing_card_is_a_failed_refund(
    provider: SandboxGateway,
) -> None:
    charge = await provider.authorize(authorize_command("tok_refundFails", capture=True))
    assert charge.status == "captured"
    command = refund_command(charge, 800)
    refund = await provider.create_refund(command)
    assert (refund.status, refund.amount) == ("failed", 800)
    assert refund.failure_code == "expired_or_canceled_card"
    assert refund.failure_message
    assert await provider.find_refund(command.refund_id) == refund
    assert (await provider.retrieve(charge.reference)).refunded_amount == 0

    # The older route (a compensation) cannot answer a failed refund as a charge: Declined.
    older = await failure_of(provider.refund(charge_command(charge, "refund", 100)))
    assert (older.type, older.non_retryable) == (errors.DECLINED, True)
    assert older.details[0].code == "expired_or_canceled_card"


async def test_transfer_over_the_platform_balance_is_declined(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    available = await platform_available(admin)
    assert available > 0
    destination = new_id("acct")
    command = transfer_command(available + 1, destination)
    error = await failure_of(provider.transfer(command))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert details.code == "balance_insufficient"
    assert await provider.find_transfer(command.payout_id) is None

    everything = await provider.transfer(transfer_command(available, destination))
    assert (everything.status, everything.amount) == ("paid", available)
    assert await platform_available(admin) == 0
    assert await platform_available(admin, destination) == available
    await provider.reverse_transfer(reversal_command(everything, available))  # give it back


async def test_transfer_and_its_reversals(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    before = await platform_available(admin)
    destination = new_id("acct")
    command = transfer_command(1000, destination)
    transfer = await provider.transfer(command)
    assert transfer.reference.startswith("tr_")
    assert transfer.model_dump() == {
        "reference": transfer.reference,
        "payout_id": command.payout_id,
        "destination": destination,
        "status": "paid",
        "amount": 1000,
        "amount_reversed": 0,
        "currency": "USD",
    }
    assert await platform_available(admin) == before - 1000

    partial = await provider.reverse_transfer(reversal_command(transfer, 400))
    assert (partial.status, partial.amount_reversed) == ("paid", 400)
    too_much = await failure_of(provider.reverse_transfer(reversal_command(transfer, 601)))
    assert (too_much.type, too_much.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "amount_too_large" in too_much.message
    rest = await provider.reverse_transfer(reversal_command(transfer, 600))
    assert (rest.status, rest.amount_reversed) == ("reversed", 1000)
    assert await provider.find_transfer(command.payout_id) == rest
    assert await platform_available(admin) == before
    assert await platform_available(admin, destination) == 0


async def test_payouts_paid_failed_and_refused(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    destination = new_id("acct")
    await provider.transfer(transfer_command(1000, destination))

    command = payout_command(600, destination)
    paid = await provider.payout(command)
    assert paid.reference.startswith("pout_")
    assert paid.model_dump() == {
        "reference": paid.reference,
        "payout_id": command.payout_id,
        "destination": destination,
        "status": "paid",
        "amount": 600,
        "currency": "USD",
        "failure_code": None,
        "failure_message": None,
    }
    assert await provider.find_payout(command.payout_id) == paid
    assert await platform_available(admin, destination) == 400

    over = await failure_of(provider.payout(payout_command(401, destination)))
    assert (over.type, over.non_retryable) == (errors.DECLINED, True)
    assert over.details[0].code == "balance_insufficient"

    failing = payout_command(400, destination, "ba_payoutFails")
    failed = await provider.payout(failing)
    assert (failed.status, failed.failure_code) == ("failed", "account_closed")
    assert await provider.find_payout(failing.payout_id) == failed
    assert await platform_available(admin, destination) == 400
    assert await provider.find_payout(new_id("po")) is None


async def test_bank_account_that_is_not_a_token_is_refused_without_echo(
    provider: SandboxGateway,
) -> None:
    await funded(provider)
    destination = new_id("acct")
    await provider.transfer(transfer_command(1000, destination))
    number = "DE89370400440532013000"
    error = await failure_of(provider.payout(payout_command(100, destination, number)))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "invalid_bank_account" in error.message
    assert "370400440532013000" not in str(error)


async def test_timeout_on_a_transfer_is_outcome_unknown_and_the_retry_replays(
    gateway_url: str, provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    faults = {"timeout_next": 1, "hang_ms": 2000, "operations": ["transfer"]}
    await admin.put("/v1/faults", json=faults)
    destination = new_id("acct")
    command = transfer_command(900, destination)
    async with SandboxGateway(gateway_url, timeout_seconds=0.5) as impatient:
        error = await failure_of(impatient.transfer(command))
        assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
        assert isinstance(error.__cause__, httpx.ReadTimeout)
        assert await impatient.find_transfer(command.payout_id) is not None  # it was applied

        transfer = await impatient.transfer(command)  # what the activity retry does
    assert (transfer.status, transfer.amount, transfer.payout_id) == (
        "paid",
        900,
        command.payout_id,
    )
    stats = (await admin.get("/v1/stats")).json()
    assert stats["applied_by_key"][command.idempotency_key] == 1
    assert stats["replays_by_key"][command.idempotency_key] == 1
    assert await platform_available(admin, destination) == 900


async def test_list_transactions_follows_pages_within_the_window(
    gateway_url: str, provider: SandboxGateway
) -> None:
    await asyncio.sleep(0.01)  # nothing of an earlier test in the window's first millisecond
    now = datetime.now(UTC)
    start = now.replace(microsecond=now.microsecond // 1000 * 1000)  # stored times are whole ms
    charge_command_ = authorize_command(capture=True, amount=1999)
    charge = await provider.authorize(charge_command_)
    refund = await provider.create_refund(refund_command(charge, 499))
    destination = new_id("acct")
    transfer_cmd = transfer_command(1000, destination)
    transfer = await provider.transfer(transfer_cmd)
    await provider.reverse_transfer(reversal_command(transfer, 250))
    payout = await provider.payout(payout_command(500, destination))
    await provider.payout(payout_command(100, destination, "ba_payoutFails"))  # moves nothing
    end = datetime.now(UTC) + timedelta(milliseconds=1)

    async with SandboxGateway(gateway_url, timeout_seconds=5, page_size=2) as paging:
        transactions = await paging.list_transactions(start, end)
    rows = [(t.type, t.amount, t.fee, t.source, t.reference, t.payment_id) for t in transactions]
    payment_id = charge_command_.payment_id
    reversal_source = transactions[3].source
    assert rows == [
        ("charge", 1999, 88, charge.reference, payment_id, payment_id),
        ("refund", -499, 0, refund.reference, refund.refund_id, payment_id),
        ("transfer", -1000, 0, transfer.reference, transfer_cmd.payout_id, None),
        ("transfer_reversal", 250, 0, reversal_source, transfer_cmd.payout_id, None),
        ("payout", -500, 0, payout.reference, payout.payout_id, None),
    ]
    assert reversal_source.startswith("trr_")
    assert all(t.currency == "USD" for t in transactions)
    assert all(start <= t.created < end for t in transactions)
    assert all(t.created.tzinfo is not None for t in transactions)
    assert len({t.id for t in transactions}) == 5

    # The same window through the default page size, and a window that ends before it.
    assert await provider.list_transactions(start, end) == transactions
    assert (
        await provider.list_transactions(start - timedelta(days=1), start - timedelta(days=1)) == []
    )
    later = await provider.list_transactions(transactions[2].created, end)
    expected = [t.id for t in transactions if t.created >= transactions[2].created]
    assert [t.id for t in later] == expected
    assert expected[-3:] == [t.id for t in transactions[2:]]

    naive = await failure_of(provider.list_transactions(datetime(2025, 1, 1), end))
    assert (naive.type, naive.non_retryable) == (errors.INVALID_REQUEST, True)
