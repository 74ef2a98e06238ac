"""StripeProvider against localstripe (charges, refunds) and the fake Connect (transfers,
payouts): what only Stripe has. What every adapter does is in ``test_contract.py``."""

from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
import pytest

from activities.providers.stripe.adapter import StripeProvider
from schemas import errors
from schemas.provider import TransferReversalCommand
from tests.activities.providers.commands import authorize_command
from tests.activities.providers.commands import failure_of
from tests.activities.providers.commands import payout_command
from tests.activities.providers.commands import transfer_command
from tests.support.fake_stripe_connect import onboarded_account
from tests.support.localstripe import LOCALSTRIPE_API_KEY

STRIPE = "stripe"
AUTH = {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}


@pytest.fixture
async def provider(localstripe: str, stripe_connect: str) -> AsyncIterator[StripeProvider]:
    async with StripeProvider(
        LOCALSTRIPE_API_KEY,
        api_base=localstripe,
        connect_api_base=stripe_connect,
        timeout_seconds=5,
    ) as stripe:
        yield stripe


async def connected_account(connect_url: str) -> str:
    return await onboarded_account(connect_url, LOCALSTRIPE_API_KEY)


async def test_card_tokens_go_through_payment_method_data(provider: StripeProvider) -> None:
    """Stripe turns ``payment_method_data[card][token]`` into a PaymentMethod; localstripe
    does not know the parameter and refuses it (a final InvalidRequest)."""
    error = await failure_of(provider.authorize(authorize_command(STRIPE, "tok_visa")))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "payment_method_data" in error.message


async def test_a_key_reused_with_other_parameters_is_invalid(
    provider: StripeProvider, stripe_connect: str
) -> None:
    command = transfer_command(STRIPE, 250, await connected_account(stripe_connect))
    await provider.transfer(command)
    mismatch = await failure_of(provider.transfer(command.model_copy(update={"amount": 1})))
    assert (mismatch.type, mismatch.non_retryable) == (errors.INVALID_REQUEST, True)


async def test_transfer_to_unknown_account_is_invalid(provider: StripeProvider) -> None:
    error = await failure_of(provider.transfer(transfer_command(STRIPE, 100, "acct_unknown")))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "resource_missing" in error.message


async def test_payouts_run_on_the_connected_account(
    provider: StripeProvider, stripe_connect: str
) -> None:
    account = await connected_account(stripe_connect)
    transfer = await provider.transfer(transfer_command(STRIPE, 1000, account))
    command = payout_command(STRIPE, 600, account, payout_id=transfer.payout_id)
    payout = await provider.payout(command)

    # Stripe-Account: on the connected account, not on the platform.
    async with httpx.AsyncClient(base_url=stripe_connect) as client:
        on_platform = (await client.get("/v1/payouts", headers=AUTH)).json()["data"]
        on_account = await client.get("/v1/payouts", headers=AUTH | {"Stripe-Account": account})
    assert payout.reference not in [p["id"] for p in on_platform]
    assert payout.reference in [p["id"] for p in on_account.json()["data"]]


async def test_list_transactions_follows_every_page(stripe_connect: str) -> None:
    """localstripe cannot filter balance transactions by ``created``: the fake (which knows
    Connect movements only) serves Stripe's documented list instead."""
    async with StripeProvider(
        LOCALSTRIPE_API_KEY, api_base=stripe_connect, connect_api_base=stripe_connect, page_size=2
    ) as provider:
        start = datetime.now(UTC) - timedelta(seconds=1)
        account = await connected_account(stripe_connect)
        transfers = [
            await provider.transfer(transfer_command(STRIPE, 100 + i, account)) for i in range(3)
        ]
        first = transfers[0]
        await provider.reverse_transfer(
            TransferReversalCommand(
                payout_id=first.payout_id,
                provider=STRIPE,
                transfer_reference=first.reference,
                amount=40,
                currency="USD",
                idempotency_key=f"{first.payout_id}:reverse",
            )
        )
        listed = await provider.list_transactions(start, datetime.now(UTC) + timedelta(seconds=2))
    ours = [t for t in listed if t.reference in {t.payout_id for t in transfers}]
    assert [(t.type, t.amount, t.currency) for t in ours] == [
        ("transfer", -100, "USD"),
        ("transfer", -101, "USD"),
        ("transfer", -102, "USD"),
        ("transfer_reversal", 40, "USD"),
    ]
    assert ours[0].source == first.reference
    assert ours[-1].source.startswith("trr_")
