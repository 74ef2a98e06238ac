"""PayPalProvider against the fake PayPal over real HTTP: results and the error taxonomy."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from activities.providers.paypal.adapter import PayPalProvider
from activities.providers.paypal.http import minor_units, paypal_amount
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
from tests.support.fake_paypal import FakePayPal, serve_fake_paypal
from workers.stack import free_port


@pytest.fixture(scope="module")
def paypal() -> Iterator[FakePayPal]:
    with serve_fake_paypal() as fake:
        yield fake


@pytest.fixture(scope="module")
async def admin_client(paypal: FakePayPal) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=paypal.url, timeout=10) as client:
        yield client


@pytest.fixture
async def admin(admin_client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """What a merchant cannot do: the buyer's approval, faults, token expiry, stats."""
    yield admin_client
    await admin_client.delete("/_fake/faults")
    await admin_client.post("/_fake/config", json={"refund_status": "COMPLETED"})


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


@pytest.fixture(scope="module")
async def provider(paypal: FakePayPal) -> AsyncIterator[PayPalProvider]:
    async with new_provider(paypal) as client:
        yield client


def authorize_command(**overrides) -> AuthorizeCommand:
    payment_id = f"pay_{uuid.uuid4().hex[:24]}"
    fields = {
        "payment_id": payment_id,
        "provider": "paypal",
        "amount": 2000,
        "currency": "USD",
        "payment_method": "paypal",
        "customer_id": "cus_test",
        "capture": False,
        "idempotency_key": f"{payment_id}:authorize",
        "tenant_id": "ten_test",
    }
    return AuthorizeCommand(**(fields | overrides))


def charge_command(charge: ChargeResult, step: str, amount: int | None = None) -> ChargeCommand:
    return ChargeCommand(
        payment_id="pay_test",
        provider="paypal",
        reference=charge.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{charge.reference}:{step}:{uuid.uuid4().hex[:6]}",
    )


async def failure_of(call) -> ApplicationError:
    with pytest.raises(ApplicationError) as raised:
        await call
    return raised.value


async def approve(admin: httpx.AsyncClient, charge: ChargeResult, funding: str = "ok") -> None:
    answer = await admin.post(
        f"/_fake/orders/{charge.reference}/approve", json={"funding": funding}
    )
    answer.raise_for_status()


async def approved(provider: PayPalProvider, admin: httpx.AsyncClient, **overrides) -> ChargeResult:
    """An order the buyer approved and we authorized (or captured, with capture=True)."""
    charge = await provider.authorize(authorize_command(**overrides))
    await approve(admin, charge)
    return await provider.confirm_action(charge_command(charge, "confirm"))


async def stats(admin: httpx.AsyncClient) -> dict:
    return (await admin.get("/_fake/stats")).json()


def test_implements_the_provider_protocol(provider: PayPalProvider) -> None:
    assert isinstance(provider, PaymentProvider)
    assert provider.name == "paypal"


def test_amounts_are_exact_decimal_strings() -> None:
    assert paypal_amount(1999, "USD") == {"currency_code": "USD", "value": "19.99"}
    assert paypal_amount(500, "JPY") == {"currency_code": "JPY", "value": "500"}
    assert paypal_amount(1, "BHD") == {"currency_code": "BHD", "value": "0.001"}
    assert minor_units({"currency_code": "USD", "value": "0.29"}) == 29  # float says 28.999…
    assert minor_units({"currency_code": "JPY", "value": "500"}) == 500
    with pytest.raises(ApplicationError):
        minor_units({"currency_code": "USD", "value": "1.005"})


async def test_auto_capture_after_the_buyer_approves(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(authorize_command(capture=True, amount=1999))
    assert (order.status, order.amount, order.captured_amount) == ("requires_action", 1999, 0)
    assert order.next_action_url == f"{admin.base_url}/checkoutnow?token={order.reference}"

    await approve(admin, order)
    captured = await provider.confirm_action(charge_command(order, "confirm"))
    assert (captured.reference, captured.status) == (order.reference, "captured")
    assert (captured.captured_amount, captured.fee) == (1999, 119)  # 3.49% → 70, + 49
    assert captured.next_action_url is None
    assert await provider.retrieve(order.reference) == captured


async def test_confirm_before_approval_still_requires_action(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(authorize_command())
    waiting = await provider.confirm_action(charge_command(order, "confirm"))
    assert waiting == order  # same link, nothing posted
    assert waiting.next_action_url


async def test_authorize_partial_capture_and_refunds(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    held = await approved(provider, admin, amount=2000)
    assert (held.status, held.authorized_amount, held.captured_amount) == ("authorized", 2000, 0)

    captured = await provider.capture(charge_command(held, "capture", 1500))
    assert (captured.reference, captured.status) == (held.reference, "captured")
    assert (captured.captured_amount, captured.authorized_amount) == (1500, 2000)

    partial = await provider.refund(charge_command(held, "refund", 500))
    assert (partial.status, partial.refunded_amount) == ("captured", 500)
    rest = await provider.refund(charge_command(held, "refund"))
    assert (rest.status, rest.refunded_amount) == ("refunded", 1500)
    assert await provider.retrieve(held.reference) == rest


async def test_void(provider: PayPalProvider, admin: httpx.AsyncClient) -> None:
    held = await approved(provider, admin)
    voided = await provider.void(charge_command(held, "void"))
    assert (voided.status, voided.captured_amount) == ("voided", 0)
    late = await failure_of(provider.capture(charge_command(held, "capture")))
    assert (late.type, late.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "AUTHORIZATION_VOIDED" in late.message


async def test_declined_funding_is_a_decline(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    for capture in (False, True):
        order = await provider.authorize(authorize_command(capture=capture))
        await approve(admin, order, funding="declined")
        error = await failure_of(provider.confirm_action(charge_command(order, "confirm")))
        assert (error.type, error.non_retryable) == (errors.DECLINED, True)
        (details,) = error.details
        assert isinstance(details, DeclineDetails)
        assert details.code == "INSTRUMENT_DECLINED"
        assert details.message


async def test_invalid_requests_are_final(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    held = await approved(provider, admin, amount=100)
    too_much = await failure_of(provider.capture(charge_command(held, "capture", 101)))
    assert (too_much.type, too_much.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "MAX_CAPTURE_AMOUNT_EXCEEDED" in too_much.message

    missing = await failure_of(provider.retrieve("NOSUCHORDER"))
    assert (missing.type, missing.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "404" in missing.message


async def test_same_request_id_applies_once(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    command = authorize_command(capture=True)
    first = await provider.authorize(command)
    assert await provider.authorize(command) == first
    await approve(admin, first)
    confirm = charge_command(first, "confirm")
    captured = await provider.confirm_action(confirm)
    assert await provider.confirm_action(confirm) == captured  # completed: nothing posted

    counted = await stats(admin)
    assert counted["orders_by_reference_id"][command.payment_id] == 1
    assert counted["applied_by_request_id"][command.idempotency_key] == 1
    assert counted["replays_by_request_id"][command.idempotency_key] == 1
    assert counted["applied_by_request_id"][confirm.idempotency_key] == 1


async def test_expired_token_is_refreshed_once_for_all_callers(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(authorize_command())
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
            order = await short_lived.authorize(authorize_command())
            await asyncio.sleep(0.5)
            assert await short_lived.retrieve(order.reference) == order
    finally:
        await admin.post("/_fake/config", json={"token_ttl_seconds": 3600})


async def test_bad_credentials_are_an_invalid_request(paypal: FakePayPal) -> None:
    async with new_provider(paypal, client_secret="wrong") as wrong:
        error = await failure_of(wrong.authorize(authorize_command()))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "wrong" not in error.message


async def test_503_is_unavailable_and_the_retry_succeeds(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    await admin.post("/_fake/faults", json={"mode": "unavailable", "count": 1})
    command = authorize_command()
    error = await failure_of(provider.authorize(command))
    assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
    assert error.next_retry_delay == timedelta(seconds=1)  # PayPal's Retry-After
    assert (await provider.authorize(command)).status == "requires_action"
    assert (await stats(admin))["applied_by_request_id"][command.idempotency_key] == 1


async def test_timeout_after_apply_is_outcome_unknown_and_the_retry_applies_once(
    paypal: FakePayPal, admin: httpx.AsyncClient
) -> None:
    fault = {"mode": "timeout_after_apply", "count": 1, "stall_seconds": 2}
    await admin.post("/_fake/faults", json=fault | {"path_prefix": "/v2/checkout/orders"})
    command = authorize_command(capture=True)
    async with new_provider(paypal, timeout_seconds=0.5) as impatient:
        error = await failure_of(impatient.authorize(command))
        assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
        assert isinstance(error.__cause__, httpx.ReadTimeout)
        order = await impatient.authorize(command)  # what the activity retry does
    assert order.status == "requires_action"
    counted = await stats(admin)
    assert counted["orders_by_reference_id"][command.payment_id] == 1
    assert counted["applied_by_request_id"][command.idempotency_key] == 1


async def test_500_after_apply_is_outcome_unknown_on_post_and_unavailable_on_get(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    order = await provider.authorize(authorize_command())
    await admin.post("/_fake/faults", json={"mode": "error_after_apply", "count": 1})
    error = await failure_of(provider.retrieve(order.reference))
    assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)

    await approve(admin, order)
    fault = {"mode": "error_after_apply", "count": 1}
    authorize_path = f"/v2/checkout/orders/{order.reference}/authorize"
    await admin.post("/_fake/faults", json=fault | {"path_prefix": authorize_path})
    confirm = charge_command(order, "confirm")
    error = await failure_of(provider.confirm_action(confirm))
    assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
    # The retry finds the order completed and reports it without authorizing again.
    assert (await provider.confirm_action(confirm)).status == "authorized"
    assert (await stats(admin))["applied_by_request_id"][confirm.idempotency_key] == 1


async def test_post_answered_500_is_outcome_unknown(
    provider: PayPalProvider, admin: httpx.AsyncClient
) -> None:
    await admin.post("/_fake/faults", json={"mode": "error_after_apply", "count": 1})
    command = authorize_command()
    error = await failure_of(provider.authorize(command))
    assert (error.type, error.non_retryable) == (errors.OUTCOME_UNKNOWN, False)
    assert "500" in error.message
    await provider.authorize(command)
    assert (await stats(admin))["orders_by_reference_id"][command.payment_id] == 1


async def test_closed_port_is_unavailable(paypal: FakePayPal) -> None:
    async with new_provider(paypal, base_url=f"http://127.0.0.1:{free_port()}") as nowhere:
        error = await failure_of(nowhere.authorize(authorize_command()))
        assert (error.type, error.non_retryable) == (errors.UNAVAILABLE, False)
        assert (await failure_of(nowhere.retrieve("ORDER"))).type == errors.UNAVAILABLE


def refund_command(charge: ChargeResult, amount: int) -> RefundCommand:
    refund_id = f"re_{uuid.uuid4().hex[:24]}"
    return RefundCommand(
        refund_id=refund_id,
        payment_id="pay_test",
        provider="paypal",
        charge_reference=charge.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{refund_id}:refund",
    )


@pytest.mark.parametrize(
    ("paypal_status", "status"),
    [("COMPLETED", "succeeded"), ("PENDING", "succeeded"), ("FAILED", "failed")],
)
async def test_refund_objects(
    provider: PayPalProvider, admin: httpx.AsyncClient, paypal_status: str, status: str
) -> None:
    charge = await approved(provider, admin, capture=True, amount=1000)
    await admin.post("/_fake/config", json={"refund_status": paypal_status})
    command = refund_command(charge, 300)
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


async def test_searches_paypal_cannot_do_answer_none(provider: PayPalProvider) -> None:
    assert await provider.find_charge("pay_anything") is None
    assert await provider.find_refund("re_anything") is None


async def test_payouts_are_not_supported(provider: PayPalProvider) -> None:
    now = datetime.now(UTC)
    transfer = TransferCommand(
        payout_id="po_1",
        provider="paypal",
        destination="acct_1",
        amount=100,
        currency="USD",
        idempotency_key="po_1:transfer",
    )
    reversal = TransferReversalCommand(
        payout_id="po_1",
        provider="paypal",
        transfer_reference="tr_1",
        amount=100,
        currency="USD",
        idempotency_key="po_1:reverse",
    )
    payout = PayoutCommand(
        payout_id="po_1",
        provider="paypal",
        destination="acct_1",
        bank_account="ba_ok",
        amount=100,
        currency="USD",
        idempotency_key="po_1:payout",
    )
    for call in (
        provider.transfer(transfer),
        provider.reverse_transfer(reversal),
        provider.payout(payout),
        provider.find_transfer("po_1"),
        provider.find_payout("po_1"),
        provider.list_transactions(now - timedelta(hours=1), now),
    ):
        error = await failure_of(call)
        assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
        assert "not supported by the PayPal adapter" in error.message
