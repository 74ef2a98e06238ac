"""StripeProvider against a real localstripe subprocess (charges, refunds) and the fake
Connect app over HTTP (transfers, payouts): results and the error taxonomy."""

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from activities.providers.stripe.adapter import StripeProvider
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
from tests.support.fake_stripe_connect import serve_fake_connect
from tests.support.localstripe import (
    CARD_CHARGE_DECLINED,
    CARD_OK,
    CARD_THREE_D_SECURE,
    LOCALSTRIPE_API_KEY,
    authenticate,
    card_payment_method,
    start_localstripe,
)
from workers.stack import free_port


@pytest.fixture(scope="module")
def stripe_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with start_localstripe(tmp_path_factory.mktemp("stripe") / "localstripe.log") as url:
        yield url


@pytest.fixture(scope="module")
def connect_url() -> Iterator[str]:
    with serve_fake_connect() as url:
        yield url


@pytest.fixture(scope="module")
async def provider(stripe_url: str, connect_url: str) -> AsyncIterator[StripeProvider]:
    stripe = StripeProvider(
        LOCALSTRIPE_API_KEY, api_base=stripe_url, connect_api_base=connect_url, timeout_seconds=5
    )
    yield stripe
    await stripe.aclose()


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


async def authorize_command(stripe_url: str, card: str = CARD_OK, **overrides) -> AuthorizeCommand:
    payment_id = new_id("pay")
    fields = {
        "payment_id": payment_id,
        "provider": "stripe",
        "amount": 2000,
        "currency": "USD",
        "payment_method": await card_payment_method(stripe_url, card),
        "customer_id": "cus_test",
        "capture": False,
        "idempotency_key": f"{payment_id}:authorize",
        "tenant_id": "tenant_a",
    }
    return AuthorizeCommand(**(fields | overrides))


def charge_command(charge: ChargeResult, step: str, amount: int | None = None) -> ChargeCommand:
    return ChargeCommand(
        payment_id="pay_test",
        provider="stripe",
        reference=charge.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{charge.reference}:{step}:{uuid.uuid4().hex[:6]}",
    )


def refund_command(charge: ChargeResult, amount: int, payment_id: str) -> RefundCommand:
    refund_id = new_id("re")
    return RefundCommand(
        refund_id=refund_id,
        payment_id=payment_id,
        provider="stripe",
        charge_reference=charge.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{refund_id}:refund",
        tenant_id="tenant_a",
    )


async def failure_of(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await call
    return raised.value


def test_implements_the_provider_protocol(provider: StripeProvider) -> None:
    assert isinstance(provider, PaymentProvider)
    assert provider.name == "stripe"


async def test_automatic_capture_in_one_call(provider: StripeProvider, stripe_url: str) -> None:
    charge = await provider.authorize(await authorize_command(stripe_url, capture=True, amount=999))
    assert charge.reference.startswith("pi_")
    assert (charge.status, charge.amount, charge.captured_amount) == ("captured", 999, 999)
    assert (charge.refunded_amount, charge.fee, charge.next_action_url) == (0, 0, None)


async def test_manual_authorization_then_partial_capture(
    provider: StripeProvider, stripe_url: str
) -> None:
    charge = await provider.authorize(await authorize_command(stripe_url, amount=2000))
    assert (charge.status, charge.authorized_amount, charge.captured_amount) == (
        "authorized",
        2000,
        0,
    )
    captured = await provider.capture(charge_command(charge, "capture", 1500))
    # The released 500 is not a refund of ours.
    assert (captured.status, captured.captured_amount, captured.refunded_amount) == (
        "captured",
        1500,
        0,
    )
    assert await provider.retrieve(charge.reference) == captured


async def test_void(provider: StripeProvider, stripe_url: str) -> None:
    charge = await provider.authorize(await authorize_command(stripe_url))
    voided = await provider.void(charge_command(charge, "void"))
    assert (voided.reference, voided.status) == (charge.reference, "voided")


async def test_refund_partial_then_the_rest(provider: StripeProvider, stripe_url: str) -> None:
    charge = await provider.authorize(await authorize_command(stripe_url, capture=True))
    partial = await provider.refund(charge_command(charge, "refund", 500))
    assert (partial.status, partial.captured_amount, partial.refunded_amount) == (
        "captured",
        2000,
        500,
    )
    # The amount is explicit: without one localstripe refunds the whole charge again, where
    # Stripe refunds what is left.
    rest = await provider.refund(charge_command(charge, "refund", 1500))
    assert (rest.status, rest.refunded_amount) == ("refunded", 2000)
    assert await provider.retrieve(charge.reference) == rest


async def test_refund_objects_found_by_refund_id(provider: StripeProvider, stripe_url: str) -> None:
    command = await authorize_command(stripe_url, capture=True, amount=1000)
    charge = await provider.authorize(command)
    first_command = refund_command(charge, 300, command.payment_id)
    first = await provider.create_refund(first_command)
    assert first.reference.startswith("re_")
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
    second = await provider.create_refund(refund_command(charge, 700, command.payment_id))
    assert (second.status, second.amount) == ("succeeded", 700)
    assert (await provider.retrieve(charge.reference)).status == "refunded"

    assert await provider.find_refund(first_command.refund_id) == first
    assert await provider.find_refund(new_id("re")) is None


async def test_find_charge_by_payment_id(provider: StripeProvider, stripe_url: str) -> None:
    command = await authorize_command(stripe_url, capture=True, amount=700)
    charge = await provider.authorize(command)
    assert await provider.find_charge(command.payment_id) == charge
    assert await provider.retrieve(charge.reference) == charge
    assert await provider.find_charge(new_id("pay")) is None


async def test_decline_is_final_with_its_code(provider: StripeProvider, stripe_url: str) -> None:
    command = await authorize_command(stripe_url, CARD_CHARGE_DECLINED)
    error = await failure_of(provider.authorize(command))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert details.code == "card_declined"  # localstripe gives no decline_code
    assert details.message

    # The declined PaymentIntent exists and stays declined when reconciled.
    again = await failure_of(provider.find_charge(command.payment_id))
    assert again.type == errors.DECLINED


async def test_three_d_secure(provider: StripeProvider, stripe_url: str) -> None:
    charge = await provider.authorize(await authorize_command(stripe_url, CARD_THREE_D_SECURE))
    assert (charge.status, charge.authorized_amount) == ("requires_action", 0)
    assert charge.next_action_url == f"stripe:use_stripe_sdk:{charge.reference}"
    waiting = await provider.confirm_action(charge_command(charge, "confirm"))
    assert waiting.status == "requires_action"

    await authenticate(stripe_url, charge.reference)
    confirmed = await provider.confirm_action(charge_command(charge, "confirm"))
    assert (confirmed.status, confirmed.authorized_amount) == ("authorized", 2000)
    assert confirmed.next_action_url is None


async def test_three_d_secure_with_automatic_capture(
    provider: StripeProvider, stripe_url: str
) -> None:
    command = await authorize_command(stripe_url, CARD_THREE_D_SECURE, capture=True)
    charge = await provider.authorize(command)
    await authenticate(stripe_url, charge.reference)
    confirmed = await provider.confirm_action(charge_command(charge, "confirm"))
    assert (confirmed.status, confirmed.captured_amount) == ("captured", 2000)


async def test_failed_three_d_secure_is_a_decline(
    provider: StripeProvider, stripe_url: str
) -> None:
    charge = await provider.authorize(await authorize_command(stripe_url, CARD_THREE_D_SECURE))
    await authenticate(stripe_url, charge.reference, success=False)
    error = await failure_of(provider.confirm_action(charge_command(charge, "confirm")))
    assert (error.type, error.non_retryable) == (errors.DECLINED, True)
    assert error.details[0].code == "payment_intent_authentication_failure"


async def test_card_tokens_go_through_payment_method_data(
    provider: StripeProvider, stripe_url: str
) -> None:
    """Stripe turns ``payment_method_data[card][token]`` into a PaymentMethod; localstripe
    does not know the parameter and refuses it (a final InvalidRequest)."""
    command = await authorize_command(stripe_url, payment_method="tok_visa")
    error = await failure_of(provider.authorize(command))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "payment_method_data" in error.message


async def test_invalid_requests_are_final(provider: StripeProvider) -> None:
    capture = await failure_of(
        provider.capture(
            ChargeCommand(
                payment_id="pay_x",
                provider="stripe",
                reference="pi_missing",
                currency="USD",
                idempotency_key="pay_x:capture",
            )
        )
    )
    assert (capture.type, capture.non_retryable) == (errors.INVALID_REQUEST, True)
    missing = await failure_of(provider.retrieve("pi_missing"))
    assert (missing.type, missing.non_retryable) == (errors.INVALID_REQUEST, True)


async def test_closed_port_is_unavailable(stripe_url: str) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    command = await authorize_command(stripe_url)
    async with StripeProvider("sk_test_x", api_base=nowhere, timeout_seconds=1) as provider:
        error = await failure_of(provider.authorize(command))
        assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
        assert isinstance(error.__cause__.__cause__, httpx.ConnectError)
        assert (await failure_of(provider.retrieve("pi_x"))).type == errors.UNAVAILABLE
        assert (await failure_of(provider.find_charge("pay_x"))).type == errors.UNAVAILABLE
        transfer = await failure_of(provider.transfer(transfer_command(100, "acct_x")))
        assert transfer.type == errors.UNAVAILABLE


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections (the kernel completes the handshake) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_no_answer_after_sending_is_outcome_unknown(
    stripe_url: str, silent_server: str
) -> None:
    command = await authorize_command(stripe_url)
    async with StripeProvider("sk_test_x", api_base=silent_server, timeout_seconds=0.5) as slow:
        error = await failure_of(slow.authorize(command))
        assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
        assert isinstance(error.__cause__.__cause__, httpx.ReadTimeout)
        # A read changes nothing: the same silence is only Unavailable.
        assert (await failure_of(slow.retrieve("pi_x"))).type == errors.UNAVAILABLE


# Connect: transfers, reversals and payouts against the fake.


async def connected_account(connect_url: str) -> str:
    async with httpx.AsyncClient(base_url=connect_url) as client:
        response = await client.post(
            "/v1/accounts",
            data={"type": "custom"},
            headers={"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"},
        )
    return response.json()["id"]


def transfer_command(amount: int, destination: str, **overrides) -> TransferCommand:
    payout_id = new_id("po")
    fields = {
        "payout_id": payout_id,
        "provider": "stripe",
        "destination": destination,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{payout_id}:transfer",
    }
    return TransferCommand(**(fields | overrides))


def payout_command(payout_id: str, destination: str, bank_account: str = "ba_ok") -> PayoutCommand:
    return PayoutCommand(
        payout_id=payout_id,
        provider="stripe",
        destination=destination,
        bank_account=bank_account,
        amount=600,
        currency="USD",
        idempotency_key=f"{payout_id}:payout",
    )


async def test_transfer_reverse_and_find(provider: StripeProvider, connect_url: str) -> None:
    account = await connected_account(connect_url)
    command = transfer_command(1000, account)
    transfer = await provider.transfer(command)
    assert transfer.reference.startswith("tr_")
    assert transfer.model_dump() == {
        "reference": transfer.reference,
        "payout_id": command.payout_id,
        "destination": account,
        "status": "paid",
        "amount": 1000,
        "amount_reversed": 0,
        "currency": "USD",
    }
    assert await provider.find_transfer(command.payout_id) == transfer

    def reversal(amount: int, step: str) -> TransferReversalCommand:
        return TransferReversalCommand(
            payout_id=command.payout_id,
            provider="stripe",
            transfer_reference=transfer.reference,
            amount=amount,
            currency="USD",
            idempotency_key=f"{command.payout_id}:{step}",
        )

    partly = await provider.reverse_transfer(reversal(400, "reverse_1"))
    assert (partly.status, partly.amount_reversed) == ("paid", 400)
    reversed_ = await provider.reverse_transfer(reversal(600, "reverse_2"))
    assert (reversed_.status, reversed_.amount_reversed) == ("reversed", 1000)
    assert await provider.find_transfer(command.payout_id) == reversed_

    too_much = await failure_of(provider.reverse_transfer(reversal(1, "reverse_3")))
    assert (too_much.type, too_much.non_retryable) == (errors.INVALID_REQUEST, True)
    assert await provider.find_transfer(new_id("po")) is None


async def test_same_idempotency_key_returns_the_same_transfer(
    provider: StripeProvider, connect_url: str
) -> None:
    command = transfer_command(250, await connected_account(connect_url))
    first = await provider.transfer(command)
    assert await provider.transfer(command) == first
    mismatch = await failure_of(provider.transfer(command.model_copy(update={"amount": 1})))
    assert (mismatch.type, mismatch.non_retryable) == (errors.INVALID_REQUEST, True)


async def test_transfer_to_unknown_account_is_invalid(provider: StripeProvider) -> None:
    error = await failure_of(provider.transfer(transfer_command(100, "acct_unknown")))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "resource_missing" in error.message


async def test_payout_from_the_connected_account(
    provider: StripeProvider, connect_url: str
) -> None:
    account = await connected_account(connect_url)
    transfer = await provider.transfer(transfer_command(1000, account))
    payout = await provider.payout(payout_command(transfer.payout_id, account))
    assert payout.reference.startswith("po_")
    assert (payout.payout_id, payout.destination, payout.status) == (
        transfer.payout_id,
        account,
        "paid",
    )
    assert (payout.amount, payout.currency, payout.failure_code) == (600, "USD", None)
    assert await provider.find_payout(transfer.payout_id) == payout
    assert await provider.find_payout(new_id("po")) is None

    # The payout ran on the connected account (Stripe-Account), not on the platform.
    async with httpx.AsyncClient(base_url=connect_url) as client:
        auth = {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}
        on_platform = (await client.get("/v1/payouts", headers=auth)).json()["data"]
        on_account = await client.get("/v1/payouts", headers=auth | {"Stripe-Account": account})
    assert payout.reference not in [p["id"] for p in on_platform]
    assert payout.reference in [p["id"] for p in on_account.json()["data"]]


async def test_refused_payout_is_failed(provider: StripeProvider, connect_url: str) -> None:
    account = await connected_account(connect_url)
    transfer = await provider.transfer(transfer_command(1000, account))
    payout = await provider.payout(payout_command(transfer.payout_id, account, "ba_failing"))
    assert (payout.status, payout.failure_code) == ("failed", "account_closed")
    assert payout.failure_message


async def test_list_transactions_follows_every_page(connect_url: str) -> None:
    """localstripe cannot filter balance transactions by ``created``: the fake (which knows
    Connect movements only) serves Stripe's documented list instead."""
    async with StripeProvider(
        LOCALSTRIPE_API_KEY, api_base=connect_url, connect_api_base=connect_url, page_size=2
    ) as provider:
        start = datetime.now(UTC) - timedelta(seconds=1)
        account = await connected_account(connect_url)
        transfers = [await provider.transfer(transfer_command(100 + i, account)) for i in range(3)]
        first = transfers[0]
        await provider.reverse_transfer(
            TransferReversalCommand(
                payout_id=first.payout_id,
                provider="stripe",
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

    naive = datetime.now()
    async with StripeProvider(LOCALSTRIPE_API_KEY, api_base=connect_url) as provider:
        error = await failure_of(provider.list_transactions(naive, naive))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
