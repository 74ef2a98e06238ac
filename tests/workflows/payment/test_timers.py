"""PaymentWorkflow on the time-skipping server, with real activities, gateway and SQLite."""

import pytest
from sqlalchemy import text
from sqlmodel import Session

from schemas.payments import PaymentStatus
from schemas.store.ledger_reports import balances
from tests.support.ledger import journal_entries_for
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.payments import step_names
from tests.support.payments import wait_for_status
from tests.support.worker import running_worker


@pytest.fixture
async def client(time_env, settings, engine):
    async with running_worker(time_env.client, settings, engine):
        yield time_env.client


async def gateway_stats(gateway) -> dict:
    return (await gateway.get("/v1/stats")).json()


async def gateway_charge(gateway, reference: str) -> dict:
    return (await gateway.get(f"/v1/charges/{reference}")).json()


async def test_automatic_capture_succeeds_and_posts_to_ledger(client, settings, engine, gateway):
    payment = payment_input(amount=2500)
    state = await (await start_payment(client, settings, payment)).result()

    assert state.status == PaymentStatus.SUCCEEDED
    assert (state.authorized_amount, state.captured_amount) == (2500, 2500)
    assert step_names(state) == [
        ("step", "screen_payment", "succeeded"),
        ("step", "authorize_payment", "succeeded"),
        ("step", "record_payment", "succeeded"),
    ]
    assert (await gateway_stats(gateway))["charges_by_reference"][payment.payment_id] == 1
    assert (await gateway_charge(gateway, state.provider_reference))["status"] == "captured"
    # The provider keeps 2.9 % + 30 of the capture (2500: 73 + 30); the merchant gets the rest.
    assert state.fee == 103
    with Session(engine) as session:
        assert {(b.account, b.balance) for b in balances(session, "ten_test")} == {
            ("merchant_balance", -2397),
            ("provider_clearing:sandbox", 2397),
        }


@pytest.mark.parametrize(
    ("token", "code"),
    [("tok_chargeDeclined", "generic_decline"), ("tok_insufficientFunds", "insufficient_funds")],
)
async def test_decline_ends_payment_without_ledger_entry(client, settings, engine, token, code):
    payment = payment_input(payment_method=token)
    state = await (await start_payment(client, settings, payment)).result()

    assert state.status == PaymentStatus.DECLINED
    assert state.failure_code == code
    assert state.captured_amount == 0
    assert journal_entries_for(engine, payment.payment_id) == 0


async def test_fraud_rule_blocks_before_the_provider_is_called(client, settings, engine, gateway):
    payment = payment_input(customer_id="cus_blocked")
    state = await (await start_payment(client, settings, payment)).result()

    assert state.status == PaymentStatus.DECLINED
    assert state.failure_code == "fraud_blocked_customer"
    assert [s.name for s in state.steps] == ["screen_payment"]
    assert payment.payment_id not in (await gateway_stats(gateway))["charges_by_reference"]


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"payment_method": "tok_captureFails"}, PaymentStatus.FAILED, "capture_failed"),
        # No capture within the authorization hold.
        ({"capture_method": "manual"}, PaymentStatus.EXPIRED, "authorization_expired"),
        # The customer never completes 3-D Secure.
        ({"payment_method": "tok_threeDSecureRequired"}, PaymentStatus.EXPIRED, "action_expired"),
    ],
    ids=["capture_failure", "authorization_hold_expiry", "three_d_secure_not_completed"],
)
async def test_an_authorization_never_captured_is_voided(
    client, settings, engine, gateway, overrides, status, code
):
    payment = payment_input(**overrides)
    state = await (await start_payment(client, settings, payment)).result()

    assert (state.status, state.failure_code) == (status, code)
    assert step_names(state)[-1] == ("compensation", "void_authorization", "succeeded")
    assert (await gateway_charge(gateway, state.provider_reference))["status"] == "voided"
    assert journal_entries_for(engine, payment.payment_id) == 0


async def test_ledger_failure_refunds_the_capture(client, settings, engine, gateway):
    # A real failure of the real database: a trigger rejects this customer's journal entries.
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER ledger_down BEFORE INSERT ON journal_entries "
                "WHEN NEW.payment_id IN (SELECT payment_id FROM payments "
                "WHERE customer_id = 'cus_ledger_down') "
                "BEGIN SELECT RAISE(ABORT, 'ledger is down'); END"
            )
        )
    payment = payment_input(customer_id="cus_ledger_down", amount=4200)
    state = await (await start_payment(client, settings, payment)).result()

    assert state.status == PaymentStatus.FAILED
    assert state.failure_code == "ledger_failed"
    assert step_names(state)[-1] == ("compensation", "refund_payment", "succeeded")
    assert state.refunded_amount == 4200
    charge = await gateway_charge(gateway, state.provider_reference)
    assert (charge["status"], charge["amount_refunded"]) == ("refunded", 4200)
    assert journal_entries_for(engine, payment.payment_id) == 0


async def test_three_d_secure_confirmed(client, settings, gateway):
    payment = payment_input(payment_method="tok_threeDSecureRequired")
    handle = await start_payment(client, settings, payment)
    pending = await wait_for_status(handle, PaymentStatus.REQUIRES_ACTION)
    assert pending.next_action_url.endswith(f"/v1/charges/{pending.provider_reference}/3ds")

    completed = await gateway.post(
        f"/v1/charges/{pending.provider_reference}/3ds/complete",
        json={"outcome": "succeed"},
    )
    assert completed.status_code == 200
    await handle.signal("confirm")
    state = await handle.result()

    assert state.status == PaymentStatus.SUCCEEDED
    assert state.captured_amount == payment.amount
    assert "confirm_payment_action" in [s.name for s in state.steps]


async def test_three_d_secure_failed_challenge_declines(client, settings, gateway):
    handle = await start_payment(
        client, settings, payment_input(payment_method="tok_threeDSecureRequired")
    )
    pending = await wait_for_status(handle, PaymentStatus.REQUIRES_ACTION)
    await gateway.post(
        f"/v1/charges/{pending.provider_reference}/3ds/complete",
        json={"outcome": "fail"},
    )
    await handle.signal("confirm")
    state = await handle.result()

    assert state.status == PaymentStatus.DECLINED
    assert state.failure_code == "authentication_failed"
