"""The contract every provider adapter passes, the same cases for each: the sandbox against
the gateway process, Stripe against localstripe and the fake Connect, PayPal against its fake.

Each adapter talks to its server through a proxy (``tests/support/provider_proxy.py``) that
records what it sent and fails requests the way providers fail. What a provider is and
cannot do is declared in ``subjects.py``: an operation it does not support must be refused
with ``InvalidRequest``. Cases only one adapter has stay in its own test files.
"""

from collections.abc import AsyncIterator
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
import pytest
from pydantic import BaseModel
from temporalio.exceptions import ApplicationError

from activities.circuit_breaker import is_provider_failure
from activities.providers.base import PaymentProvider
from activities.providers.base import SavesPaymentMethods
from activities.providers.registry import PROVIDERS
from schemas import errors
from schemas.customers import AttachMethodCommand
from schemas.customers import SaveCustomerCommand
from schemas.provider import AccountCommand
from schemas.provider import AuthorizeCommand
from schemas.provider import ChargeResult
from schemas.provider import DeclineDetails
from schemas.provider import OnboardingLinkCommand
from schemas.provider import TransferResult
from schemas.provider_events import ProviderEvent
from schemas.provider_events import WebhookSignatureError
from tests.activities.providers.commands import authorize_command
from tests.activities.providers.commands import charge_command
from tests.activities.providers.commands import failure_of
from tests.activities.providers.commands import new_id
from tests.activities.providers.commands import payout_command
from tests.activities.providers.commands import refund_command
from tests.activities.providers.commands import reversal_command
from tests.activities.providers.commands import transfer_command
from tests.activities.providers.subjects import Method
from tests.activities.providers.subjects import PayPalSubject
from tests.activities.providers.subjects import SandboxSubject
from tests.activities.providers.subjects import StripeSubject
from tests.activities.providers.subjects import Subject
from tests.support.provider_proxy import ProviderProxy
from tests.support.served import serve_app
from workers.stack import free_port


@pytest.fixture(scope="module", params=[plugin.name for plugin in PROVIDERS])
def subject(request: pytest.FixtureRequest) -> Subject:
    """Every registered provider; its servers start only when its cases run."""
    if request.param == "sandbox":
        return SandboxSubject(request.getfixturevalue("gateway_url"))
    if request.param == "stripe":
        servers = request.getfixturevalue("localstripe"), request.getfixturevalue("stripe_connect")
        return StripeSubject(*servers)
    return PayPalSubject(request.getfixturevalue("paypal"))


@pytest.fixture(scope="module")
def proxy(subject: Subject) -> Iterator[ProviderProxy]:
    proxy = ProviderProxy(subject.upstreams(), subject.error_body, subject.money_paths)
    with serve_app(proxy.app, f"proxy of {subject.name}") as url:
        proxy.url = url
        yield proxy


@pytest.fixture
async def provider(subject: Subject, proxy: ProviderProxy) -> AsyncIterator[PaymentProvider]:
    adapter = subject.build(proxy.url)
    yield adapter
    await adapter.aclose()
    proxy.clear()


def supported(subject: Subject, *operations: str) -> None:
    """Skip a case whose operations the provider declares it cannot do (checked below)."""
    missing = set(operations) & subject.unsupported
    if missing:
        pytest.skip(f"{subject.name} does not support {', '.join(sorted(missing))}")


def causes(error: BaseException) -> list[BaseException]:
    chain = []
    while error.__cause__ is not None:
        error = error.__cause__
        chain.append(error)
    return chain


def assert_final(error: ApplicationError, kind: str, says: str | None = None) -> None:
    assert (error.type, error.non_retryable) == (kind, True), error.message
    if says:
        assert says in error.message


def assert_made(result: BaseModel, prefix: str, fields: dict[str, Any]) -> None:
    """``result`` has a reference of the provider's (``prefix``) and, besides, exactly
    ``fields``."""
    assert result.reference.startswith(prefix)
    assert result.model_dump() == {"reference": result.reference, **fields}


def assert_retried(error: ApplicationError, kind: str) -> None:
    assert (error.type, error.non_retryable) == (kind, False), error.message


async def payment(subject: Subject, method: Method = "ok", **overrides) -> AuthorizeCommand:
    """The authorize command of a payment with the provider's test method of that kind."""
    return authorize_command(subject.name, await subject.payment_method(method), **overrides)


async def charged(
    subject: Subject, provider: PaymentProvider, command: AuthorizeCommand, *, refused=False
) -> ChargeResult:
    """The payment as its saga makes it: authorize, and where every payment waits for the
    customer (PayPal), the customer's approval (``refused``: of a refused funding source)
    and ``confirm_action``."""
    charge = await provider.authorize(command)
    if subject.customer_approves_every_payment:
        await subject.act(charge, succeed=not refused)
        charge = await provider.confirm_action(charge_command(subject.name, charge, "confirm"))
    return charge


# Charges.


def test_is_a_payment_provider_under_its_registered_name(subject, provider) -> None:
    assert isinstance(provider, PaymentProvider)
    assert provider.name == subject.name


async def test_authorize_then_capture_part_of_it(subject, provider) -> None:
    held = await charged(subject, provider, await payment(subject, amount=2000))
    assert held.reference.startswith(subject.prefixes["charge"])
    assert (held.status, held.amount, held.authorized_amount, held.captured_amount) == (
        "authorized",
        2000,
        2000,
        0,
    )

    captured = await provider.capture(charge_command(subject.name, held, "capture", 1500))
    assert (captured.reference, captured.status) == (held.reference, "captured")
    # The released 500 is not a refund of ours.
    assert (captured.authorized_amount, captured.captured_amount, captured.refunded_amount) == (
        2000,
        1500,
        0,
    )
    assert await provider.retrieve(held.reference) == captured


async def test_refund_part_then_the_rest(subject, provider) -> None:
    held = await charged(subject, provider, await payment(subject, amount=2000))
    await provider.capture(charge_command(subject.name, held, "capture", 1500))

    partial = await provider.refund(charge_command(subject.name, held, "refund", 500))
    assert (partial.status, partial.captured_amount, partial.refunded_amount) == (
        "captured",
        1500,
        500,
    )
    rest = 1000 if not subject.refunds_the_rest_without_amount else None
    refunded = await provider.refund(charge_command(subject.name, held, "refund", rest))
    assert (refunded.status, refunded.refunded_amount) == ("refunded", 1500)
    assert await provider.retrieve(held.reference) == refunded


async def test_authorize_and_capture_in_one_call(subject, provider) -> None:
    command = await payment(subject, capture=True, amount=1999)
    charge = await charged(subject, provider, command)
    assert (charge.status, charge.amount, charge.captured_amount) == ("captured", 1999, 1999)
    # Said by the provider, so reconciliation can refuse a charge in another currency.
    assert charge.currency == command.currency
    assert (charge.refunded_amount, charge.fee, charge.next_action_url) == (
        0,
        subject.fee(1999),
        None,
    )
    assert await provider.retrieve(charge.reference) == charge


async def test_void_then_a_capture_is_refused(subject, provider) -> None:
    held = await charged(subject, provider, await payment(subject))
    voided = await provider.void(charge_command(subject.name, held, "void"))
    assert (voided.reference, voided.status, voided.captured_amount) == (
        held.reference,
        "voided",
        0,
    )
    if "capture_after_void" in subject.server_accepts:
        return
    late = await failure_of(provider.capture(charge_command(subject.name, held, "capture")))
    assert_final(late, errors.INVALID_REQUEST, subject.says.get("after_void"))


@pytest.mark.parametrize("capture", [False, True], ids=["hold", "auto-capture"])
async def test_the_customers_action_then_confirm(subject, provider, capture: bool) -> None:
    charge = await provider.authorize(await payment(subject, "action", capture=capture))
    assert (charge.status, charge.authorized_amount, charge.captured_amount) == (
        "requires_action",
        0,
        0,
    )
    assert charge.next_action_url == subject.action_url(charge)
    action = await provider.customer_action(charge.reference)
    assert action is not None
    # A page to send the customer to, or (Stripe.js) the intent's client secret.
    assert action.url == subject.action_url(charge) or (
        action.type == "use_stripe_sdk" and action.client_secret
    )
    confirm = charge_command(subject.name, charge, "confirm")
    assert await provider.confirm_action(confirm) == charge  # still waiting: nothing changed

    await subject.act(charge, succeed=True)
    confirmed = await provider.confirm_action(confirm)
    assert confirmed.reference == charge.reference
    if capture:
        assert (confirmed.status, confirmed.captured_amount) == ("captured", 2000)
    else:
        assert (confirmed.status, confirmed.authorized_amount) == ("authorized", 2000)
    assert confirmed.next_action_url is None
    assert await provider.retrieve(charge.reference) == confirmed
    assert await provider.customer_action(charge.reference) is None


async def test_a_failed_customer_action_is_a_decline(subject, provider) -> None:
    charge = await provider.authorize(await payment(subject, "action"))
    await subject.act(charge, succeed=False)
    error = await failure_of(
        provider.confirm_action(charge_command(subject.name, charge, "confirm"))
    )
    assert_final(error, errors.DECLINED)
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert (details.code, bool(details.message)) == (subject.decline_codes["action_failed"], True)
    if subject.keeps_declines:
        assert (await failure_of(provider.retrieve(charge.reference))).type == errors.DECLINED


@pytest.mark.parametrize("capture", [False, True], ids=["hold", "auto-capture"])
async def test_a_declined_payment_is_final_with_its_details(
    subject, provider, capture: bool
) -> None:
    command = await payment(subject, "declined", capture=capture)
    error = await failure_of(charged(subject, provider, command, refused=True))
    assert_final(error, errors.DECLINED)
    (details,) = error.details
    assert isinstance(details, DeclineDetails)
    assert (details.code, bool(details.message)) == (subject.decline_codes["declined"], True)
    if subject.searches and subject.keeps_declines:
        # The declined charge exists and stays declined when reconciled.
        found = await failure_of(provider.find_charge(command.payment_id))
        assert found.type == errors.DECLINED


async def test_a_missing_charge_is_an_invalid_request(subject, provider) -> None:
    missing = await failure_of(provider.retrieve("MISSING1"))
    assert_final(missing, errors.INVALID_REQUEST, subject.says.get("missing"))
    capture = ChargeResult(reference="MISSING1", status="authorized", amount=100)
    refused = await failure_of(provider.capture(charge_command(subject.name, capture, "capture")))
    assert_final(refused, errors.INVALID_REQUEST)


async def test_capturing_more_than_authorized_is_an_invalid_request(subject, provider) -> None:
    held = await charged(subject, provider, await payment(subject, amount=100))
    too_much = await failure_of(
        provider.capture(charge_command(subject.name, held, "capture", 101))
    )
    assert_final(too_much, errors.INVALID_REQUEST, subject.says.get("over_capture"))


async def test_find_charge_by_our_payment_id(subject, provider) -> None:
    command = await payment(subject, capture=True, amount=700)
    charge = await charged(subject, provider, command)
    found = await provider.find_charge(command.payment_id)
    assert found == (charge if subject.searches else None)
    assert await provider.find_charge(new_id("pay")) is None


# Refunds.


async def test_refunds_as_objects_found_by_our_refund_id(subject, provider) -> None:
    command = await payment(subject, capture=True, amount=1000)
    charge = await charged(subject, provider, command)
    first_command = refund_command(subject.name, charge, 300, payment_id=command.payment_id)
    first = await provider.create_refund(first_command)
    assert_made(
        first,
        subject.prefixes["refund"],
        {
            "refund_id": first_command.refund_id,
            "charge_reference": charge.reference,
            "status": "succeeded",
            "amount": 300,
            "currency": "USD",
            "failure_code": None,
            "failure_message": None,
        },
    )
    over = refund_command(subject.name, charge, 701, payment_id=command.payment_id)
    if "over_refund" not in subject.server_accepts:
        too_much = await failure_of(provider.create_refund(over))
        assert_final(too_much, errors.INVALID_REQUEST, subject.says.get("over_refund"))
    second_command = refund_command(subject.name, charge, 700, payment_id=command.payment_id)
    second = await provider.create_refund(second_command)
    assert (second.status, second.amount) == ("succeeded", 700)
    after = await provider.retrieve(charge.reference)
    assert (after.status, after.refunded_amount) == ("refunded", 1000)

    found = await provider.find_refund(first_command.refund_id)
    assert found == (first if subject.searches else None)
    if subject.searches:
        assert await provider.find_refund(second_command.refund_id) == second
    assert await provider.find_refund(new_id("re")) is None
    if "refund_after_full" not in subject.server_accepts:
        once_more = refund_command(subject.name, charge, 1, payment_id=command.payment_id)
        refused = await failure_of(provider.create_refund(once_more))
        assert_final(refused, errors.INVALID_REQUEST, subject.says.get("refund_after_full"))
    if subject.replays_charge_keys:  # an activity retry: the stored answer, applied once
        assert await provider.create_refund(first_command) == first
        assert await subject.uses_of(first_command.idempotency_key) == (1, 1)


# Transfers and payouts.


async def test_transfer_reverse_and_find(subject, provider) -> None:
    supported(subject, "transfer", "reverse_transfer", "find_transfer")
    await subject.fund(provider, 10_000)
    account = await subject.connected_account()
    command = transfer_command(subject.name, 1000, account)
    transfer = await provider.transfer(command)
    assert_made(
        transfer,
        subject.prefixes["transfer"],
        {
            "payout_id": command.payout_id,
            "destination": account,
            "status": "paid",
            "amount": 1000,
            "amount_reversed": 0,
            "currency": "USD",
        },
    )
    assert await provider.find_transfer(command.payout_id) == transfer

    partly = await provider.reverse_transfer(reversal_command(subject.name, transfer, 400))
    assert (partly.status, partly.amount_reversed) == ("paid", 400)
    too_much = await failure_of(
        provider.reverse_transfer(reversal_command(subject.name, transfer, 601))
    )
    assert_final(too_much, errors.INVALID_REQUEST, subject.says.get("over_reversal"))
    reversed_ = await provider.reverse_transfer(reversal_command(subject.name, transfer, 600))
    assert (reversed_.status, reversed_.amount_reversed) == ("reversed", 1000)
    assert await provider.find_transfer(command.payout_id) == reversed_
    assert await provider.find_transfer(new_id("po")) is None


def account_command() -> AccountCommand:
    account_id = new_id("acct")
    return AccountCommand(
        account_id=account_id,
        tenant_id="tenant_contract",
        name="Seller GmbH",
        bank_account="ba_ok",
        idempotency_key=f"{account_id}:create_account",
    )


def link_command(reference: str) -> OnboardingLinkCommand:
    return OnboardingLinkCommand(
        reference=reference,
        refresh_url="https://platform.example/onboarding/expired",
        return_url="https://platform.example/onboarding/done",
    )


async def test_connected_accounts_are_made_then_onboarded(subject, provider) -> None:
    supported(subject, "create_account", "retrieve_account", "onboarding_link")
    command = account_command()

    made = await provider.create_account(command)
    again = await provider.create_account(command)
    link = await provider.onboarding_link(link_command(made.reference))
    before = await provider.retrieve_account(made.reference)
    await subject.complete_onboarding(made.reference)
    after = await provider.retrieve_account(made.reference)

    assert made.reference.startswith("acct_")
    assert again == made  # the same key: the same account, made once
    assert (made.charges_enabled, made.payouts_enabled) == (False, False)
    assert made.requirements_due and made.disabled_reason
    assert before == made
    assert link.url.startswith(("https://", "http://"))
    assert link.expires_at > datetime.now(UTC)
    assert (after.charges_enabled, after.payouts_enabled) == (True, True)
    assert (after.requirements_due, after.disabled_reason) == ([], None)


async def test_payouts_wait_for_onboarding_and_instant_ones_for_a_bank_that_takes_them(
    subject, provider
) -> None:
    supported(subject, "create_account", "transfer", "payout")
    await subject.fund(provider, 10_000)
    account = (await provider.create_account(account_command())).reference
    early = await failure_of(provider.payout(payout_command(subject.name, 100, account)))
    await subject.complete_onboarding(account)
    transfer = await provider.transfer(transfer_command(subject.name, 1000, account))

    def instant(bank_account: str):
        command = payout_command(
            subject.name, 300, account, bank_account, payout_id=transfer.payout_id
        )
        return command.model_copy(update={"method": "instant"})

    ineligible = await failure_of(provider.payout(instant("ba_ok")))
    asked_at = datetime.now(UTC).replace(microsecond=0)
    paid = await provider.payout(instant("ba_instant_debit"))

    assert_final(early, errors.INVALID_REQUEST, "payouts_not_allowed")
    assert_final(ineligible, errors.INVALID_REQUEST, "instant_payouts_unsupported")
    assert paid.status == "paid"
    # Instant: at the bank in minutes, not days.
    assert paid.arrival_date is not None
    assert paid.arrival_date - asked_at < timedelta(hours=1)


async def test_payouts_paid_and_failed(subject, provider) -> None:
    supported(subject, "transfer", "payout", "find_payout")
    await subject.fund(provider, 10_000)
    account = await subject.connected_account()
    transfer = await provider.transfer(transfer_command(subject.name, 1000, account))

    command = payout_command(subject.name, 600, account, payout_id=transfer.payout_id)
    asked_at = datetime.now(UTC).replace(microsecond=0)
    paid = await provider.payout(command)
    # A standard payout reaches the bank in days, as the provider says.
    assert paid.arrival_date is not None and paid.arrival_date > asked_at
    assert_made(
        paid,
        subject.prefixes["payout"],
        {
            "payout_id": command.payout_id,
            "destination": account,
            "status": "paid",
            "amount": 600,
            "currency": "USD",
            "failure_code": None,
            "failure_message": None,
            "arrived_at": None,  # on its way: the arrival is reported later
            "arrival_date": paid.arrival_date,
        },
    )
    assert await provider.find_payout(command.payout_id) == paid
    assert await provider.find_payout(new_id("po")) is None

    other = await provider.transfer(transfer_command(subject.name, 400, account))
    failing = payout_command(
        subject.name, 400, account, subject.failing_bank_account, payout_id=other.payout_id
    )
    failed = await provider.payout(failing)
    assert (failed.status, failed.failure_code) == ("failed", "account_closed")
    assert failed.failure_message
    assert await provider.find_payout(failing.payout_id) == failed


async def test_list_transactions_wants_a_timezone(subject, provider) -> None:
    supported(subject, "list_transactions")
    naive = datetime(2025, 1, 1)
    error = await failure_of(provider.list_transactions(naive, datetime.now(UTC)))
    assert_final(error, errors.INVALID_REQUEST)


async def test_what_an_adapter_does_not_support_is_an_invalid_request(subject, provider) -> None:
    now = datetime.now(UTC)
    account = "acct_1"
    transfer = transfer_command(subject.name, 100, account)
    made = TransferResult(
        reference="tr_1",
        payout_id=transfer.payout_id,
        destination=account,
        status="paid",
        amount=100,
        currency="USD",
    )
    calls = {
        "transfer": lambda: provider.transfer(transfer),
        "reverse_transfer": lambda: provider.reverse_transfer(
            reversal_command(subject.name, made, 100)
        ),
        "payout": lambda: provider.payout(payout_command(subject.name, 100, account)),
        "find_transfer": lambda: provider.find_transfer("po_1"),
        "find_payout": lambda: provider.find_payout("po_1"),
        "list_transactions": lambda: provider.list_transactions(now - timedelta(hours=1), now),
        "create_account": lambda: provider.create_account(account_command()),
        "retrieve_account": lambda: provider.retrieve_account(account),
        "onboarding_link": lambda: provider.onboarding_link(link_command(account)),
    }
    assert subject.unsupported <= set(calls)  # charges and refunds: every provider
    for operation in sorted(subject.unsupported):
        error = await failure_of(calls[operation]())
        assert_final(error, errors.INVALID_REQUEST, subject.says.get("unsupported"))


# Customers and saved methods (the providers that keep them: SavesPaymentMethods).


async def saved_method(subject: Subject, provider, method: Method = "ok") -> tuple[str, str]:
    """A new customer at the provider and a method of ``method``'s kind saved for it."""
    if not isinstance(provider, SavesPaymentMethods):
        pytest.skip(f"{subject.name} keeps no saved methods")
    customer = await provider.save_customer(
        SaveCustomerCommand(
            customer_id=new_id("cust"),
            tenant_id="ten_test",
            provider=subject.name,
            idempotency_key=new_id("customer"),
        )
    )
    token = await subject.payment_method(method)
    card = await provider.attach_method(
        AttachMethodCommand(
            customer_reference=customer, payment_method=token, idempotency_key=new_id("attach")
        )
    )
    assert card.reference.startswith("pm_")
    assert (card.brand, bool(card.last4), bool(card.fingerprint)) == ("visa", True, True)
    return customer, card.reference


def off_session(subject: Subject, method: str, customer: str | None) -> AuthorizeCommand:
    return authorize_command(
        subject.name, method, capture=True, off_session=True, provider_customer=customer
    )


async def test_a_saved_method_is_charged_off_session_for_its_customer(subject, provider) -> None:
    customer, method = await saved_method(subject, provider)
    charge = await provider.authorize(off_session(subject, method, customer))
    assert (charge.status, charge.captured_amount) == ("captured", 2000)


async def test_a_saved_method_is_refused_for_another_customer(subject, provider) -> None:
    _, method = await saved_method(subject, provider)
    stranger, _ = await saved_method(subject, provider)
    error = await failure_of(provider.authorize(off_session(subject, method, stranger)))
    assert_final(error, errors.INVALID_REQUEST)


async def test_off_session_a_card_that_needs_authentication_is_declined(subject, provider) -> None:
    customer, method = await saved_method(subject, provider, "action")
    error = await failure_of(provider.authorize(off_session(subject, method, customer)))
    assert_final(error, errors.DECLINED)
    assert error.details[0].code == "authentication_required"


async def test_a_detached_method_is_never_charged_again(subject, provider) -> None:
    customer, method = await saved_method(subject, provider)
    await provider.set_default_method(customer, method)
    await provider.detach_method(method)
    error = await failure_of(provider.authorize(off_session(subject, method, customer)))
    assert_final(error, errors.INVALID_REQUEST, "attach it to a Customer first")


# Idempotency.


async def test_every_money_moving_call_carries_its_idempotency_key(
    subject, provider, proxy
) -> None:
    checked: set[str] = set()

    async def call(operation: str, command, run, *, posts_always: bool = True):
        start = len(proxy.requests)
        result = await run(command)
        posts = [
            seen
            for seen in proxy.requests[start:]
            if seen.method == "POST" and not seen.path.startswith(subject.unkeyed_paths)
        ]
        assert posts or not posts_always, operation
        for seen in posts:
            assert seen.headers.get(subject.key_header.lower()) == command.idempotency_key, (
                operation,
                seen.path,
            )
        checked.add(operation)
        return result

    held = await charged(subject, provider, await payment(subject, amount=2000))
    name = subject.name
    await call("capture", charge_command(name, held, "capture", 1000), provider.capture)
    await call("refund", charge_command(name, held, "refund", 100), provider.refund)
    refund = refund_command(name, held, 100)
    await call("create_refund", refund, provider.create_refund)
    other = await charged(subject, provider, await payment(subject))
    await call("void", charge_command(name, other, "void"), provider.void)
    authorize = await payment(subject)
    await call("authorize", authorize, provider.authorize)
    action = await payment(subject, "action")
    waiting = await provider.authorize(action)
    await subject.act(waiting, succeed=True)
    # Stripe posts only what localstripe has not confirmed with the authentication.
    confirm = charge_command(name, waiting, "confirm")
    await call("confirm_action", confirm, provider.confirm_action, posts_always=False)
    if "transfer" not in subject.unsupported:
        await subject.fund(provider, 2000)
        account = await subject.connected_account()
        transfer = await call("transfer", transfer_command(name, 1000, account), provider.transfer)
        reversal = reversal_command(name, transfer, 100)
        await call("reverse_transfer", reversal, provider.reverse_transfer)
        payout = payout_command(name, 100, account, payout_id=transfer.payout_id)
        await call("payout", payout, provider.payout)
    if "create_account" not in subject.unsupported:
        await call("create_account", account_command(), provider.create_account)
    moving = {"authorize", "capture", "void", "refund", "confirm_action", "create_refund"}
    moving |= {"transfer", "reverse_transfer", "payout", "create_account"} - subject.unsupported
    assert checked == moving


@pytest.mark.parametrize("operation", ["authorize", "transfer"])
async def test_the_same_key_again_is_applied_once(subject, provider, operation: str) -> None:
    if operation == "authorize":
        if not subject.replays_charge_keys:
            pytest.skip(f"the {subject.name} test server ignores keys on charges")
        command = await payment(subject)
        call = provider.authorize
    else:
        supported(subject, "transfer")
        await subject.fund(provider, 1000)
        command = transfer_command(subject.name, 250, await subject.connected_account())
        call = provider.transfer
    first = await call(command)
    assert await call(command) == first
    assert await subject.uses_of(command.idempotency_key) in ((1, 1), None)
    if operation == "authorize":
        assert await subject.charges_for(command.payment_id) == 1


# The error taxonomy of failures without an answer, or with a failing one.

# What the adapters' HTTP clients raise for the failure (httpx: PayPal; aiohttp: the sandbox).
NOT_CONNECTED = (httpx.ConnectError, aiohttp.ClientConnectorError)
READ_TIMED_OUT = (httpx.ReadTimeout, aiohttp.SocketTimeoutError)


async def test_an_unreachable_provider_is_unavailable(subject) -> None:
    async with subject.build(f"http://127.0.0.1:{free_port()}", timeout_seconds=1) as nowhere:
        command = authorize_command(subject.name, "tok_or_pm_never_sent")
        error = await failure_of(nowhere.authorize(command))
        assert_retried(error, errors.UNAVAILABLE)
        assert any(isinstance(cause, NOT_CONNECTED) for cause in causes(error))
        reads = [nowhere.retrieve("REF1")]
        if subject.searches:
            reads += [nowhere.find_charge("pay_x"), nowhere.find_refund("re_x")]
        if "transfer" not in subject.unsupported:
            reads += [
                nowhere.transfer(transfer_command(subject.name, 100, "acct_x")),
                nowhere.find_payout("po_x"),
            ]
        if "list_transactions" not in subject.unsupported:
            now = datetime.now(UTC)
            reads.append(nowhere.list_transactions(now - timedelta(hours=1), now))
        for read in reads:
            assert_retried(await failure_of(read), errors.UNAVAILABLE)


@pytest.mark.parametrize("operation", ["authorize", "transfer"])
async def test_no_answer_after_applying_is_outcome_unknown(subject, proxy, operation: str) -> None:
    async with subject.build(proxy.url, timeout_seconds=0.5) as impatient:
        if operation == "authorize":
            command = await payment(subject)
            call, find = impatient.authorize, impatient.find_charge
            ours = command.payment_id
        else:
            supported(subject, "transfer")
            await subject.fund(impatient, 2000)
            command = transfer_command(subject.name, 900, await subject.connected_account())
            call, find = impatient.transfer, impatient.find_transfer
            ours = command.payout_id
        proxy.fail_next("stall_after_apply", stall_seconds=2)
        error = await failure_of(call(command))
        assert_retried(error, errors.OUTCOME_UNKNOWN)
        assert any(isinstance(cause, READ_TIMED_OUT) for cause in causes(error))
        if subject.searches:
            assert await find(ours) is not None  # it was applied

        proxy.fail_next("stall_after_apply", stall_seconds=2)
        read = await failure_of(impatient.retrieve("REF1"))
        assert_retried(read, errors.UNAVAILABLE)  # a read changes nothing

        if operation == "authorize" and not subject.replays_charge_keys:
            return
        again = await call(command)  # what the activity's retry does
        if operation == "authorize":
            assert again.status in ("authorized", "requires_action")
            assert await subject.charges_for(command.payment_id) == 1
        else:
            assert (again.status, again.amount, again.payout_id) == ("paid", 900, ours)
        assert await subject.uses_of(command.idempotency_key) in ((1, 1), None)


async def test_a_5xx_answering_a_post_is_outcome_unknown(subject, provider, proxy) -> None:
    command = await payment(subject)
    proxy.fail_next("error_after_apply", status=500)
    error = await failure_of(provider.authorize(command))
    assert_retried(error, errors.OUTCOME_UNKNOWN)
    assert "500" in error.message

    proxy.fail_next("error_after_apply", status=500)
    read = await failure_of(provider.retrieve("REF1"))
    assert_retried(read, errors.UNAVAILABLE)
    if subject.replays_charge_keys:
        await provider.authorize(command)
        assert await subject.charges_for(command.payment_id) == 1
        assert await subject.uses_of(command.idempotency_key) in ((1, 1), None)


@pytest.mark.parametrize("status", [503, 429])
async def test_a_refusal_before_applying_is_unavailable(subject, provider, proxy, status) -> None:
    command = await payment(subject)
    proxy.fail_next("refuse", status=status, headers={"Retry-After": "1"})
    error = await failure_of(provider.authorize(command))
    assert_retried(error, errors.UNAVAILABLE)
    # Throttled: retried when the provider says, and backpressure the breaker does not
    # count; a 503 is the provider unwell.
    assert is_provider_failure(error) is (status == 503)
    if status == 429:
        assert error.next_retry_delay == timedelta(seconds=1)
    retried = await provider.authorize(command)
    assert retried.status in ("authorized", "requires_action")
    assert await subject.charges_for(command.payment_id) in (1, None)
    assert await subject.uses_of(command.idempotency_key) in ((1, 0), None)


# Webhooks.


async def test_a_genuine_webhook_verifies_and_a_forged_one_does_not(subject, provider) -> None:
    headers, body = subject.delivery()
    if not subject.webhooks:  # nothing the provider could send is genuine
        with pytest.raises(WebhookSignatureError):
            await provider.verify_webhook(headers, body)
        return
    event = await provider.verify_webhook(headers, body)
    assert isinstance(event, ProviderEvent)
    assert event.provider == subject.name

    with pytest.raises(WebhookSignatureError):
        await provider.verify_webhook(headers, body.replace(b"2000", b"9000"))
    stale_headers, stale_body = subject.delivery(stale=True)
    with pytest.raises(WebhookSignatureError, match=subject.says.get("stale")):
        await provider.verify_webhook(stale_headers, stale_body)
