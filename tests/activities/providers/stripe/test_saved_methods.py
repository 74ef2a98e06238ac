"""StripeProvider's customers and saved methods against localstripe, made as strict as
Stripe about them (``tests/support/localstripe_strict``): a method is reused off-session
only once attached to its customer, only for that customer, and a card that needs
authentication is declined off-session (``authentication_required``)."""

import uuid
from collections.abc import AsyncIterator

import pytest

from activities.providers.stripe.adapter import StripeProvider
from schemas import errors
from schemas.customers import AttachMethodCommand
from schemas.customers import SaveCustomerCommand
from schemas.customers import SetupCommand
from tests.activities.providers.commands import authorize_command
from tests.activities.providers.commands import failure_of
from tests.support.localstripe import CARD_OK
from tests.support.localstripe import CARD_THREE_D_SECURE
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.localstripe import card_payment_method

STRIPE = "stripe"


@pytest.fixture
async def provider(localstripe: str) -> AsyncIterator[StripeProvider]:
    async with StripeProvider(LOCALSTRIPE_API_KEY, api_base=localstripe, timeout_seconds=5) as s:
        yield s


async def stripe_customer(provider: StripeProvider) -> str:
    ours = f"cust_{uuid.uuid4().hex[:24]}"
    command = SaveCustomerCommand(
        customer_id=ours, tenant_id="ten_test", provider=STRIPE, idempotency_key=f"{ours}:c"
    )
    return await provider.save_customer(command)


async def attached(provider: StripeProvider, localstripe: str, number: str) -> tuple[str, str]:
    customer = await stripe_customer(provider)
    token = await card_payment_method(localstripe, number)
    command = AttachMethodCommand(
        customer_reference=customer, payment_method=token, idempotency_key=f"{token}:attach"
    )
    card = await provider.attach_method(command)
    assert (card.reference, card.brand, card.last4) == (token, "visa", number[-4:])
    return customer, token


def off_session(token: str, customer: str | None):
    return authorize_command(
        STRIPE, token, capture=True, off_session=True, provider_customer=customer
    )


async def test_a_method_attached_to_its_customer_is_charged_off_session(provider, localstripe):
    customer, token = await attached(provider, localstripe, CARD_OK)
    charged = await provider.authorize(off_session(token, customer))
    assert charged.status == "captured"


async def test_an_unattached_method_is_refused_off_session(provider, localstripe):
    token = await card_payment_method(localstripe, CARD_OK)
    error = await failure_of(provider.authorize(off_session(token, None)))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)
    assert "attach it to a Customer first" in error.message


async def test_another_customers_method_is_refused(provider, localstripe):
    _, token = await attached(provider, localstripe, CARD_OK)
    stranger = await stripe_customer(provider)
    error = await failure_of(provider.authorize(off_session(token, stranger)))
    assert (error.type, error.non_retryable) == (errors.INVALID_REQUEST, True)


async def test_a_card_that_needs_authentication_is_declined_off_session(provider, localstripe):
    customer, token = await attached(provider, localstripe, CARD_THREE_D_SECURE)
    error = await failure_of(provider.authorize(off_session(token, customer)))
    assert error.type == errors.DECLINED
    assert error.details[0].code == "authentication_required"


async def test_a_setup_waits_for_authentication_only_when_the_card_asks(provider, localstripe):
    customer = await stripe_customer(provider)
    results = {}
    for number in (CARD_OK, CARD_THREE_D_SECURE):
        token = await card_payment_method(localstripe, number)
        command = SetupCommand(
            payment_method_id=f"spm_{uuid.uuid4().hex[:24]}",
            tenant_id="ten_test",
            provider=STRIPE,
            customer_reference=customer,
            payment_method=token,
            idempotency_key=f"{token}:setup",
        )
        results[number] = await provider.set_up_method(command)
    assert results[CARD_OK].status == "succeeded"
    assert results[CARD_OK].card is not None and results[CARD_OK].card.last4 == "4242"
    pending = results[CARD_THREE_D_SECURE]
    assert (pending.status, pending.card) == ("requires_action", None)
    action = await provider.setup_action(pending.reference)
    assert action is not None and action.client_secret.startswith(f"{pending.reference}_secret_")
    assert (await provider.retrieve_setup(pending.reference)).status == "requires_action"
