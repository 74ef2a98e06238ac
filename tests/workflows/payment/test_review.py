"""Risk rules that hold a payment for review or ask for 3-D Secure, through the real saga.

Decisions arrive as updates, so those scenarios run on the real dev server (``local_env``);
nobody deciding is a 24 h timer, run on the time-skipping server (``time_env``).
"""

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from schemas import errors
from schemas.payments import CancelRequest
from schemas.payments import CaptureRequest
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.risk_review import ReviewDecision
from schemas.risk_rules import RiskRuleSetDocument
from schemas.store.risk_rules import save_rule_set
from schemas.store.tables import PaymentRecord
from tests.support.ledger import journal_entries_for
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.payments import step_names
from tests.support.payments import wait_for_status
from tests.support.worker import running_worker
from workflows.kit import search_attributes as sa
from workflows.payment.workflow import PaymentWorkflow

REVIEW_FROM = 100_000
THREE_D_SECURE_CUSTOMER = "cus_needs_3ds"
RULES = RiskRuleSetDocument.model_validate(
    {
        "rules": [
            {
                "id": "large_payment",
                "action": "review",
                "description": "large payments are reviewed",
                "when": [{"field": "amount", "op": "gte", "value": REVIEW_FROM}],
            },
            {
                "id": "challenge_customer",
                "action": "require_3ds",
                "when": [{"field": "customer_id", "op": "in", "values": [THREE_D_SECURE_CUSTOMER]}],
            },
        ]
    }
)
APPROVE = ReviewDecision(decision="approve", reviewer="alice", reason="known customer")
REJECT = ReviewDecision(decision="reject", reviewer="bob", reason="stolen card reported")


def with_rules(engine: Engine) -> None:
    with engine.begin() as connection:
        save_rule_set(connection, "ten_test", RULES)


async def charge_at_gateway(gateway, state: PaymentState) -> dict:
    return (await gateway.get(f"/v1/charges/{state.provider_reference}")).json()


def stored_status(engine: Engine, payment_id: str) -> str:
    with engine.connect() as connection:
        return connection.execute(
            select(PaymentRecord.status).where(PaymentRecord.payment_id == payment_id)
        ).scalar_one()


@pytest.fixture
async def client(local_env, settings, engine):
    with_rules(engine)
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client


@pytest.fixture
async def time_client(time_env, settings, engine):
    with_rules(engine)
    async with running_worker(time_env.client, settings, engine):
        yield time_env.client


async def held_for_review(client, settings, **overrides):
    payment = payment_input(amount=150_000, **overrides)
    handle = await start_payment(client, settings, payment)
    return payment, handle, await wait_for_status(handle, PaymentStatus.IN_REVIEW)


async def test_a_payment_in_review_is_authorized_and_approval_captures_it(
    client, settings, engine, gateway
):
    payment, handle, held = await held_for_review(client, settings)

    assert held.risk.action == "review"
    assert held.risk.rule == "large_payment"
    assert [rule.id for rule in held.risk.fired] == ["large_payment"]
    assert held.risk.rules_version == 1
    assert (held.authorized_amount, held.captured_amount) == (150_000, 0)
    assert held.review.deadline - held.review.opened_at == timedelta(hours=24)
    assert (held.review.timeout_action, held.review.decision) == ("reject", None)
    assert (await charge_at_gateway(gateway, held))["status"] == "authorized"
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.PAYMENT_STATUS) == "in_review"
    assert stored_status(engine, payment.payment_id) == "in_review"

    state = await handle.execute_update(PaymentWorkflow.review, APPROVE)

    assert state.status == PaymentStatus.SUCCEEDED
    assert (state.authorized_amount, state.captured_amount) == (150_000, 150_000)
    review = state.review
    assert (review.decision, review.reviewer, review.reason, review.channel) == (
        "approve",
        "alice",
        "known customer",
        "temporal",
    )
    assert review.opened_at <= review.decided_at <= review.deadline
    assert ("step", "review_payment", "succeeded") in step_names(state)
    [reviewed] = [step for step in state.steps if step.name == "review_payment"]
    assert reviewed.detail == "approved by alice: known customer"
    assert journal_entries_for(engine, payment.payment_id) == 2  # the capture and its fee
    assert (await charge_at_gateway(gateway, state))["status"] == "captured"
    assert stored_status(engine, payment.payment_id) == "succeeded"


async def test_rejection_voids_the_authorization(client, settings, engine, gateway):
    payment, handle, _ = await held_for_review(client, settings)

    state = await handle.execute_update(PaymentWorkflow.review, REJECT)

    assert state.status == PaymentStatus.DECLINED
    assert (state.failure_code, state.failure_message) == (
        "review_rejected",
        "stolen card reported",
    )
    assert (state.review.decision, state.review.reviewer) == ("reject", "bob")
    assert step_names(state)[-2:] == [
        ("step", "review_payment", "failed"),
        ("compensation", "void_authorization", "succeeded"),
    ]
    assert (await charge_at_gateway(gateway, state))["status"] == "voided"
    assert journal_entries_for(engine, payment.payment_id) == 0
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.PAYMENT_STATUS) == "declined"


async def test_manual_capture_approved_waits_for_the_capture(client, settings):
    _, handle, _ = await held_for_review(client, settings, capture_method="manual")

    approved = await handle.execute_update(PaymentWorkflow.review, APPROVE)

    assert approved.status == PaymentStatus.REQUIRES_CAPTURE
    assert approved.captured_amount == 0
    # Decided once: a second decision is refused.
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(PaymentWorkflow.review, REJECT)
    assert refused.value.cause.type == errors.INVALID_PAYMENT_STATE
    state = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest(amount=100_000))
    assert (state.status, state.captured_amount) == (PaymentStatus.SUCCEEDED, 100_000)
    assert state.review.decision == "approve"


async def test_review_is_refused_for_a_payment_not_in_review(client, settings):
    handle = await start_payment(client, settings, payment_input(capture_method="manual"))
    held = await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)
    assert held.risk.action == "allow" and held.review is None

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(PaymentWorkflow.review, APPROVE)

    assert refused.value.cause.type == errors.INVALID_PAYMENT_STATE
    assert "in_review" in refused.value.cause.message
    state = await handle.query(PaymentWorkflow.state)
    assert (state.status, state.review) == (PaymentStatus.REQUIRES_CAPTURE, None)
    await handle.execute_update(PaymentWorkflow.cancel, CancelRequest())


async def test_a_payment_in_review_can_be_canceled(client, settings, gateway):
    _, handle, _ = await held_for_review(client, settings)

    state = await handle.execute_update(PaymentWorkflow.cancel, CancelRequest(reason="customer"))

    assert (state.status, state.failure_code) == (PaymentStatus.CANCELED, "canceled")
    assert state.review.decision is None
    assert (await charge_at_gateway(gateway, state))["status"] == "voided"


async def complete_three_d_secure(gateway, handle) -> PaymentState:
    pending = await wait_for_status(handle, PaymentStatus.REQUIRES_ACTION)
    assert pending.next_action_url.endswith(f"/v1/charges/{pending.provider_reference}/3ds")
    completed = await gateway.post(
        f"/v1/charges/{pending.provider_reference}/3ds/complete", json={"outcome": "succeed"}
    )
    assert completed.status_code == 200
    await handle.signal(PaymentWorkflow.confirm)
    return pending


async def test_require_3ds_sends_a_card_through_the_challenge(client, settings, engine, gateway):
    # tok_visa authorizes at once unless the merchant asks for 3-D Secure.
    payment = payment_input(customer_id=THREE_D_SECURE_CUSTOMER, payment_method="tok_visa")
    handle = await start_payment(client, settings, payment)

    pending = await complete_three_d_secure(gateway, handle)
    state = await handle.result()

    assert pending.risk.action == "require_3ds"
    assert [rule.id for rule in pending.risk.fired] == ["challenge_customer"]
    assert state.status == PaymentStatus.SUCCEEDED
    assert state.captured_amount == payment.amount
    assert "confirm_payment_action" in [step.name for step in state.steps]
    assert journal_entries_for(engine, payment.payment_id) == 2


async def test_review_waits_for_three_d_secure_first(client, settings, gateway):
    payment = payment_input(amount=150_000, payment_method="tok_threeDSecureRequired")
    handle = await start_payment(client, settings, payment)

    await complete_three_d_secure(gateway, handle)
    held = await wait_for_status(handle, PaymentStatus.IN_REVIEW)
    assert (await charge_at_gateway(gateway, held))["status"] == "authorized"
    state = await handle.execute_update(PaymentWorkflow.review, APPROVE)

    assert (state.status, state.captured_amount) == (PaymentStatus.SUCCEEDED, 150_000)


async def test_nobody_decides_and_the_review_expires_rejected(time_client, settings, gateway):
    handle = await start_payment(time_client, settings, payment_input(amount=150_000))

    state = await handle.result()

    assert state.status == PaymentStatus.DECLINED
    assert state.failure_code == "review_expired"
    review = state.review
    assert (review.decision, review.reviewer, review.channel) == ("reject", "paysaga", "timeout")
    assert review.decided_at - review.opened_at >= timedelta(hours=24)
    assert step_names(state)[-1] == ("compensation", "void_authorization", "succeeded")
    assert (await charge_at_gateway(gateway, state))["status"] == "voided"


async def test_the_timeout_action_may_approve(time_client, settings, engine, gateway):
    payment = payment_input(
        amount=150_000, review_timeout=timedelta(hours=2), review_timeout_action="approve"
    )

    state = await (await start_payment(time_client, settings, payment)).result()

    assert (state.status, state.captured_amount) == (PaymentStatus.SUCCEEDED, 150_000)
    assert (state.review.decision, state.review.channel) == ("approve", "timeout")
    assert state.review.deadline - state.review.opened_at == timedelta(hours=2)
    assert (await charge_at_gateway(gateway, state))["status"] == "captured"
    assert journal_entries_for(engine, payment.payment_id) == 2
