"""A payment that failed over is the authorizing provider's from then on: its capture, manual or
automatic, is booked to that provider's clearing account, on the real dev server with the
sandbox gateway, localstripe and SQLite."""

import pytest
from pydantic import SecretStr
from sqlmodel import Session

from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import provider_clearing
from schemas.payments import CaptureRequest
from schemas.payments import PaymentStatus
from schemas.store.ledger_reports import balances
from tests.support import provider_servers
from tests.support.ledger import assert_ledger_invariants
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.payments import wait_for_status
from tests.support.worker import running_worker
from tests.support.workflow_history import local_activities
from tests.support.workflow_history import scheduled_activities
from workflows.payment.workflow import PaymentWorkflow

localstripe = provider_servers.localstripe


@pytest.fixture
async def client(local_env, settings, engine, localstripe):
    with_stripe = settings.model_copy(
        update={"stripe_api_key": SecretStr(LOCALSTRIPE_API_KEY), "stripe_api_base": localstripe}
    )
    async with running_worker(local_env.client, with_stripe, engine):
        yield local_env.client


@pytest.mark.parametrize("capture_method", ["manual", "automatic"])
async def test_a_capture_after_failover_is_booked_to_the_authorizing_provider(
    client, settings, engine, gateway, capture_method
):
    # The sandbox is unavailable before applying anything: the payment goes to Stripe.
    await gateway.put("/v1/faults", json={"fail_next": 1})
    payment = payment_input(
        provider="sandbox",
        fallback_providers=["stripe"],
        capture_method=capture_method,
        payment_method="pm_card_visa",  # a card both take (Stripe takes no sandbox token)
    )
    handle = await start_payment(client, settings, payment)
    if capture_method == "manual":
        held = await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE, seconds=30)
        assert held.provider == "stripe"
        state = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest())
    else:
        state = await handle.result()

    assert (state.status, state.provider) == (PaymentStatus.SUCCEEDED, "stripe")
    assert [(a.provider, a.outcome) for a in state.provider_attempts] == [
        ("sandbox", "unavailable"),
        ("stripe", "succeeded"),
    ]
    # The call that could fail over was the regular activity; the last provider's, which
    # cannot, took the local fast path.
    history = await handle.fetch_history()
    assert scheduled_activities(history)[0] == "authorize_payment"
    assert local_activities(history).count("authorize_payment") == 1
    net = state.captured_amount - state.fee
    with Session(engine) as session:
        booked = {(b.account, b.balance) for b in balances(session, payment.tenant_id)}
    assert booked == {(MERCHANT_BALANCE, -net), (provider_clearing("stripe"), net)}
    assert_ledger_invariants(engine)
