"""SandboxGateway against the real gateway process: what only the sandbox has (its test
tokens, balances, fees, a gateway dying mid-request). What every adapter does is in
``test_contract.py``."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import aiohttp
import httpx
import pytest

from activities.providers.sandbox.adapter import SandboxGateway
from schemas import errors
from schemas.provider import ChargeResult
from schemas.provider import DeclineDetails
from tests.activities.providers.commands import authorize_command
from tests.activities.providers.commands import charge_command
from tests.activities.providers.commands import failure_of
from tests.activities.providers.commands import new_id
from tests.activities.providers.commands import payout_command
from tests.activities.providers.commands import refund_command
from tests.activities.providers.commands import reversal_command
from tests.activities.providers.commands import transfer_command
from tests.support.gateway import GatewayProcess
from tests.support.gateway import start_gateway

SANDBOX = "sandbox"


@pytest.fixture
async def admin(gateway_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Direct HTTP access for what a merchant cannot do: faults, stats, balances."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=10) as client:
        yield client
        await client.delete("/v1/faults")


@pytest.fixture
async def provider(gateway_url: str) -> AsyncIterator[SandboxGateway]:
    async with SandboxGateway(gateway_url, timeout_seconds=5) as gateway:
        yield gateway


async def platform_available(admin: httpx.AsyncClient, account: str | None = None) -> int:
    params = {"account": account} if account else {}
    balances = (await admin.get("/v1/balance", params=params)).json()["available"]
    return sum(row["amount"] for row in balances if row["currency"] == "USD")


async def funded(provider: SandboxGateway, amount: int = 10_000) -> ChargeResult:
    """A captured charge, so the platform has money to transfer."""
    return await provider.authorize(
        authorize_command(SANDBOX, "tok_visa", capture=True, amount=amount)
    )


@pytest.mark.parametrize(
    ("token", "code"),
    [
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_expiredCard", "expired_card"),
        ("tok_processingError", "processing_error"),
    ],
)
async def test_each_decline_token_has_its_code(
    provider: SandboxGateway, token: str, code: str
) -> None:
    error = await failure_of(provider.authorize(authorize_command(SANDBOX, token)))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert details.code == code
    assert details.message


async def test_refused_capture_is_a_decline(provider: SandboxGateway) -> None:
    command = authorize_command(SANDBOX, "tok_captureFails", capture=True)
    charge = await provider.authorize(command)
    assert charge.status == "authorized"  # the hold exists; the capture part failed
    error = await failure_of(provider.capture(charge_command(SANDBOX, charge, "capture")))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    assert error.details[0].code == "capture_failed"


async def test_an_unknown_token_is_refused_without_echo(provider: SandboxGateway) -> None:
    token = "tok_notAKnownTestToken"
    unknown_token = await failure_of(provider.authorize(authorize_command(SANDBOX, token)))
    assert (unknown_token.type, unknown_token.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "token_not_found" in unknown_token.message
    assert token not in unknown_token.message  # only its first 8 characters


async def test_reused_key_with_another_request_is_invalid(provider: SandboxGateway) -> None:
    command = authorize_command(SANDBOX, "tok_visa")
    await provider.authorize(command)
    error = await failure_of(provider.authorize(command.model_copy(update={"amount": 1})))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "idempotency_mismatch" in error.message


@pytest.mark.parametrize("ending", ["crash", "shutdown"])
async def test_gateway_dying_mid_request_is_outcome_unknown(tmp_path: Path, ending: str) -> None:
    """The gateway applies the charge, then dies before answering: a crash drops the connection
    (ServerDisconnectedError), a shutdown answers 500. Either way the retry after a restart replays
    the stored charge instead of creating a second one."""
    db_path = tmp_path / "gateway.db"
    command = authorize_command(SANDBOX, "tok_visa")
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
    assert isinstance(error.__cause__, aiohttp.ServerDisconnectedError)

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


async def test_fees_are_reported_once_captured(provider: SandboxGateway) -> None:
    held = await provider.authorize(authorize_command(SANDBOX, "tok_visa", amount=2000))
    assert held.fee == 0
    captured = await provider.capture(charge_command(SANDBOX, held, "capture", 1500))
    assert (captured.captured_amount, captured.fee) == (1500, 74)  # 43.5 → 44, + 30
    assert (await provider.retrieve(held.reference)).fee == 74


async def test_refund_of_a_refund_failing_card_is_a_failed_refund(
    provider: SandboxGateway,
) -> None:
    command = authorize_command(SANDBOX, "tok_refundFails", capture=True)
    charge = await provider.authorize(command)
    assert charge.status == "captured"
    refund = refund_command(SANDBOX, charge, 800)
    failed = await provider.create_refund(refund)
    assert (failed.status, failed.amount) == ("failed", 800)
    assert failed.failure_code == "expired_or_canceled_card"
    assert failed.failure_message
    assert await provider.find_refund(refund.refund_id) == failed
    assert (await provider.retrieve(charge.reference)).refunded_amount == 0

    # The older route (a compensation) cannot answer a failed refund as a charge: Declined.
    older = await failure_of(provider.refund(charge_command(SANDBOX, charge, "refund", 100)))
    assert (older.type, older.non_retryable) == (errors.DECLINED, True)
    assert older.details[0].code == "expired_or_canceled_card"


# Balances: what transfers and payouts move, and what they may not.


async def test_transfer_over_the_platform_balance_is_declined(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    available = await platform_available(admin)
    assert available > 0
    destination = new_id("acct")
    command = transfer_command(SANDBOX, available + 1, destination)
    error = await failure_of(provider.transfer(command))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert details.code == "balance_insufficient"
    assert await provider.find_transfer(command.payout_id) is None

    everything = await provider.transfer(transfer_command(SANDBOX, available, destination))
    assert (everything.status, everything.amount) == ("paid", available)
    assert await platform_available(admin) == 0
    assert await platform_available(admin, destination) == available
    await provider.reverse_transfer(reversal_command(SANDBOX, everything, available))


async def test_transfers_and_reversals_move_the_balances(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    before = await platform_available(admin)
    destination = new_id("acct")
    transfer = await provider.transfer(transfer_command(SANDBOX, 1000, destination))
    assert await platform_available(admin) == before - 1000
    assert await platform_available(admin, destination) == 1000

    await provider.reverse_transfer(reversal_command(SANDBOX, transfer, 400))
    await provider.reverse_transfer(reversal_command(SANDBOX, transfer, 600))
    assert await platform_available(admin) == before
    assert await platform_available(admin, destination) == 0


async def test_payouts_draw_on_the_account_balance(
    provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    await funded(provider)
    destination = new_id("acct")
    await provider.transfer(transfer_command(SANDBOX, 1000, destination))
    await provider.payout(payout_command(SANDBOX, 600, destination))
    assert await platform_available(admin, destination) == 400

    over = await failure_of(provider.payout(payout_command(SANDBOX, 401, destination)))
    assert (over.type, over.non_retryable) == (errors.DECLINED, True)
    assert over.details[0].code == "balance_insufficient"

    failed = await provider.payout(payout_command(SANDBOX, 400, destination, "ba_payoutFails"))
    assert failed.status == "failed"
    assert await platform_available(admin, destination) == 400  # a failed payout moves nothing


async def test_bank_account_that_is_not_a_token_is_refused_without_echo(
    provider: SandboxGateway,
) -> None:
    await funded(provider)
    destination = new_id("acct")
    await provider.transfer(transfer_command(SANDBOX, 1000, destination))
    number = "DE89370400440532013000"
    error = await failure_of(provider.payout(payout_command(SANDBOX, 100, destination, number)))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "invalid_bank_account" in error.message
    assert "370400440532013000" not in str(error)


async def test_a_transfer_retried_after_an_unknown_outcome_moves_the_money_once(
    gateway_url: str, provider: SandboxGateway, admin: httpx.AsyncClient
) -> None:
    """The gateway's own fault: it applies the transfer, then answers too late."""
    await funded(provider)
    faults = {"timeout_next": 1, "hang_ms": 2000, "operations": ["transfer"]}
    await admin.put("/v1/faults", json=faults)
    destination = new_id("acct")
    command = transfer_command(SANDBOX, 900, destination)
    async with SandboxGateway(gateway_url, timeout_seconds=0.5) as impatient:
        error = await failure_of(impatient.transfer(command))
        assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
        await impatient.transfer(command)  # what the activity retry does
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
    charge_command_ = authorize_command(SANDBOX, "tok_visa", capture=True, amount=1999)
    charge = await provider.authorize(charge_command_)
    refund = await provider.create_refund(refund_command(SANDBOX, charge, 499))
    destination = new_id("acct")
    transfer_cmd = transfer_command(SANDBOX, 1000, destination)
    transfer = await provider.transfer(transfer_cmd)
    await provider.reverse_transfer(reversal_command(SANDBOX, transfer, 250))
    payout = await provider.payout(payout_command(SANDBOX, 500, destination))
    # Moves nothing.
    await provider.payout(payout_command(SANDBOX, 100, destination, "ba_payoutFails"))
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
