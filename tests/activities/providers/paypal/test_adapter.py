"""PayPalProvider against the fake PayPal over real HTTP: what only PayPal has (exact decimal
amounts, OAuth tokens, an order confirmed once, refund statuses). What every adapter does is
in ``test_contract.py``."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.paypal.adapter import PayPalProvider
from activities.providers.paypal.http import minor_units
from activities.providers.paypal.http import paypal_amount
from schemas import errors
from schemas.provider import ChargeResult
from tests.activities.providers.commands import authorize_command
from tests.activities.providers.commands import charge_command
from tests.activities.providers.commands import failure_of
from tests.activities.providers.commands import refund_command
from tests.support.fake_paypal import FakePayPal

PAYPAL = "paypal"


@pytest.fixture
async def admin(paypal: FakePayPal) -> AsyncIterator[httpx.AsyncClient]:
    """What a merchant cannot do: the buyer's approval, faults, token expiry, stats."""
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as client:
        yield client
        await client.delete("/_fake/faults")
        await client.post("/_fake/config", json={"refund_status": "COMPLETED"})


def new_provider(paypal: FakePayPal, **overrides) -> PayPalProvider:
    fields = {
        "base_url": paypal.url,
        "client_id": paypal.client_id,
        "client_secret": paypal.client_secret,
        "webhook_id": "WH-TEST",
        "return_url": "https://shop.example/paypal/return",
        "cancel_url": "https://shop.example/paypal/cancel",
        "timeout_seconds": 5,
    }
    fields |= overrides
    return PayPalProvider(
        fields.pop("base_url"), fields.pop("client_id"), fields.pop("client_secret"), **fields
    )


@pytest.fixture
async def provider(paypal: FakePayPal) -> AsyncIterator[PayPalProvider]:
    async with new_provider(paypal) as client:
        yield client


def order_command(**overrides):
    return authorize_command(PAYPAL, "paypal", tenant_id="ten_test", **overrides)


async def approve(admin: httpx.AsyncClient, charge: ChargeResult, funding: str = "ok") -> None:
    answer = await admin.post(
        f"/_fake/orders/{charge.reference}/approve", json={"funding": funding}
    )
    answer.raise_for_status()


async def approved(provider: PayPalProvider, admin: httpx.AsyncClient, **overrides) -> ChargeResult:
    """An order the buyer approved and we authorized (or captured, with capture=True)."""
    charge = await provider.authorize(order_command(**overrides))
    await approve(admin, charge)
    return await provider.confirm_action(charge_command(PAYPAL, charge, "confirm"))


async def stats(admin: httpx.AsyncClient) -> dict:
    return (await admin.get("/_fake/stats")).json()


def test_amounts_are_exact_decimal_strings() -> None:
    assert paypal_amount(1999, "USD") == {"currency_code": "USD", "value": "19.99"}
    assert paypal_amount(500, "JPY") == {"currency_code": "JPY", "value": "500"}
    with pytest.raises(ApplicationError):  # not among PayPal's currencies
        paypal_amount(1, "BHD")
    assert minor_units({"currency_code": "USD", "value": "0.29"}) == 29  # float says 28.999…
    assert minor_units({"currency_code": "JPY", "value": "500"}) == 500
    with pytest.raises(ApplicationError):
        minor_units({"currency_code": "USD", "value": "1.005"})


async def test_a_completed_order_is_confirmed_once(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(order_command(capture=True))
    await approve(admin, order)
    confirm = charge_command(PAYPAL, order, "confirm")
    captured = await provider.confirm_action(confirm)
    assert await provider.confirm_action(confirm) == captured  # completed: nothing posted
    assert (await stats(admin))["applied_by_request_id"][confirm.idempotency_key] == 1


async def test_a_confirm_retried_after_a_500_finds_the_order_completed(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(order_command())
    await approve(admin, order)
    fault = {"mode": "error_after_apply", "count": 1}
    authorize_path = f"/v2/checkout/orders/{order.reference}/authorize"
    await admin.post("/_fake/faults", json=fault | {"path_prefix": authorize_path})
    confirm = charge_command(PAYPAL, order, "confirm")
    error = await failure_of(provider.confirm_action(confirm))
    assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
    # The retry reports the completed order without authorizing again.
    assert (await provider.confirm_action(confirm)).status == "authorized"
    assert (await stats(admin))["applied_by_request_id"][confirm.idempotency_key] == 1


async def test_expired_token_is_refreshed_once_for_all_callers(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(order_command())
    issued = (await stats(admin))["tokens"]["issued"]
    await admin.post("/_fake/tokens/expire")  # our cached token now answers 401

    views = await asyncio.gather(*(provider.retrieve(order.reference) for _ in range(5)))
    assert all(view == order for view in views)
    assert (await stats(admin))["tokens"]["issued"] == issued + 1


async def test_short_lived_tokens_are_renewed_before_they_expire(
    paypal: FakePayPal, admin: httpx.AsyncClient
) -> None:
    await admin.post("/_fake/config", json={"token_ttl_seconds": 0.4})
    try:
        async with new_provider(paypal) as short_lived:
            order = await short_lived.authorize(order_command())
            await asyncio.sleep(0.5)
            assert await short_lived.retrieve(order.reference) == order
    finally:
        await admin.post("/_fake/config", json={"token_ttl_seconds": 3600})


async def test_bad_credentials_are_an_invalid_request(paypal: FakePayPal) -> None:
    async with new_provider(paypal, client_secret="wrong") as wrong:
        error = await failure_of(wrong.authorize(order_command()))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "wrong" not in error.message


async def test_a_503_keeps_paypals_retry_after(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    await admin.post("/_fake/faults", json={"mode": "unavailable", "count": 1})
    error = await failure_of(provider.authorize(order_command()))
    assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
    assert error.next_retry_delay == timedelta(seconds=1)  # PayPal's Retry-After


@pytest.mark.parametrize(
    ("paypal_status", "status"), [("PENDING", "succeeded"), ("FAILED", "failed")]
)
async def test_refund_statuses(
    provider: PayPalProvider, admin: httpx.AsyncClient, paypal_status: str, status: str
) -> None:
    """PENDING counts as succeeded: PayPal accepted it and completes it without us."""
    charge = await approved(provider, admin, capture=True, amount=1000)
    await admin.post("/_fake/config", json={"refund_status": paypal_status})
    command = refund_command(PAYPAL, charge, 300)
    refund = await provider.create_refund(command)
    assert refund.model_dump() == {
        "reference": refund.reference,
        "refund_id": command.refund_id,
        "charge_reference": charge.reference,
        "status": status,
        "amount": 300,
        "currency": "USD",
        "failure_code": None if status == "succeeded" else paypal_status,
        "failure_message": None,
    }
    assert await provider.create_refund(command) == refund  # replayed, not refunded twice
    assert (await stats(admin))["applied_by_request_id"][command.idempotency_key] == 1
