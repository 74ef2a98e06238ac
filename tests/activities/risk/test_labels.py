"""Feedback labels: platform operators' review verdicts and disputes of payments at a
provider that moves money become ``risk_labels`` rows, once per source, with the features
the payment was scored on, on SQLite and PostgreSQL; a sandbox payment never does.

Both paths by which a dispute reaches the read model are exercised: the saga's own state
writes through ``upsert_payment`` (a dispute signalled to the running workflow, end to end on
the dev server too) and the API's ``record_dispute`` (a dispute on a payment whose saga has
finished).
"""

from datetime import UTC
from datetime import datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from sqlmodel import select

from schemas.payments import CaptureRequest
from schemas.payments import DisputeRecord
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.risk import RiskFeatures
from schemas.store.risk_labels import labels_of
from schemas.store.tables import RiskLabelRecord
from schemas.store.webhook_events import record_dispute
from tests.support import risk_states
from tests.support.payments import payment_input
from tests.support.payments import processing_state
from tests.support.payments import start_payment
from tests.support.payments import wait_for_status
from tests.support.risk_states import FRAUDULENT
from tests.support.risk_states import dispute_event
from tests.support.risk_states import later
from tests.support.risk_states import record_states
from tests.support.worker import running_worker
from workflows.payment.workflow import PaymentWorkflow

TENANT = "ten_labels"
# The provider of the labelled payments: one that moves money.
LIVE = "stripe"


def reviewed_state(
    decision: str | None, channel: str | None = "temporal", provider: str = LIVE
) -> PaymentState:
    return risk_states.reviewed_state(TENANT, FRAUDULENT, decision, channel, provider)


def labels(engine: Engine, payment_id: str) -> list[RiskLabelRecord]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(RiskLabelRecord)
                .where(RiskLabelRecord.payment_id == payment_id)
                .order_by(RiskLabelRecord.source)
            ).all()
        )


@pytest.mark.parametrize(
    ("decision", "source", "fraud", "final"),
    [
        ("reject", "review_rejected", True, PaymentStatus.CANCELED),
        ("approve", "review_approved", False, PaymentStatus.SUCCEEDED),
    ],
)
def test_an_operators_verdict_is_labelled_once_with_its_features(
    database_engine: Engine, decision, source, fraud, final
) -> None:
    decided = reviewed_state(decision)
    # The saga records the decided state, then its later steps and the final one: the same
    # verdict each time, one label.
    record_states(database_engine, decided, decided, later(decided, final))

    (label,) = labels(database_engine, decided.payment_id)
    assert (label.tenant_id, label.source, label.fraud) == (TENANT, source, fraud)
    assert RiskFeatures.model_validate_json(label.features_json) == FRAUDULENT
    assert label.created_at.replace(tzinfo=UTC) == decided.review.decided_at


def test_a_tenants_verdict_through_the_api_is_no_label(database_engine: Engine) -> None:
    # A tenant judges its own (possibly sandbox) payments: its verdicts would train the
    # model every tenant shares, so only platform operators' verdicts and disputes do.
    decided = reviewed_state("reject", channel="api")
    record_states(database_engine, decided, later(decided, PaymentStatus.CANCELED))
    assert labels(database_engine, decided.payment_id) == []


def test_an_open_review_and_a_timeout_verdict_are_not_labels(database_engine: Engine) -> None:
    opened = reviewed_state(decision=None)
    timed_out = reviewed_state("reject", channel="timeout")
    record_states(database_engine, opened, timed_out, later(timed_out, PaymentStatus.CANCELED))
    assert labels(database_engine, opened.payment_id) == []
    assert labels(database_engine, timed_out.payment_id) == []


@pytest.mark.parametrize("channel", ["temporal", "operator"])
def test_an_operators_verdict_on_a_sandbox_payment_is_no_label(
    database_engine: Engine, channel
) -> None:
    # A sandbox payment moves no money: whoever judges it, it says nothing about fraud.
    decided = reviewed_state("reject", channel=channel, provider="sandbox")
    record_states(database_engine, decided, later(decided, PaymentStatus.CANCELED))
    assert labels(database_engine, decided.payment_id) == []


def test_an_operator_verdict_through_the_admin_api_is_a_label(database_engine: Engine) -> None:
    decided = reviewed_state("reject", channel="operator")
    record_states(database_engine, decided, later(decided, PaymentStatus.CANCELED))
    (label,) = labels(database_engine, decided.payment_id)
    assert (label.source, label.fraud) == ("review_rejected", True)


def test_a_dispute_of_a_sandbox_payment_is_no_label_on_either_path(
    database_engine: Engine,
) -> None:
    signalled = later(
        processing_state(tenant_id=TENANT),
        PaymentStatus.SUCCEEDED,
        dispute=DisputeRecord(
            provider_event_id="evt_2", reason="fraudulent", opened_at=datetime.now(UTC)
        ),
    )
    finished = later(processing_state(tenant_id=TENANT), PaymentStatus.SUCCEEDED)
    record_states(database_engine, signalled, finished)
    assert record_dispute(database_engine, TENANT, finished.payment_id, dispute_event(finished))

    assert labels(database_engine, signalled.payment_id) == []
    assert labels(database_engine, finished.payment_id) == []


def test_a_payment_without_review_or_dispute_is_no_label(database_engine: Engine) -> None:
    state = processing_state(tenant_id=TENANT, provider=LIVE)
    record_states(database_engine, state, later(state, PaymentStatus.SUCCEEDED))
    assert labels(database_engine, state.payment_id) == []


def test_a_dispute_signalled_to_the_running_saga_is_labelled(database_engine: Engine) -> None:
    # The saga keeps a signalled dispute in its state; the next state it records carries it.
    approved = reviewed_state("approve")
    disputed = later(
        approved,
        PaymentStatus.SUCCEEDED,
        dispute=DisputeRecord(
            provider_event_id="evt_1", reason="fraudulent", opened_at=datetime.now(UTC)
        ),
    )
    record_states(database_engine, approved, disputed, later(disputed, PaymentStatus.SUCCEEDED))

    found = labels(database_engine, approved.payment_id)
    assert [(label.source, label.fraud) for label in found] == [
        ("dispute", True),
        ("review_approved", False),
    ]
    assert all(RiskFeatures.model_validate_json(x.features_json) == FRAUDULENT for x in found)


def test_a_dispute_on_a_finished_payment_is_labelled_by_the_webhook_path(
    database_engine: Engine,
) -> None:
    approved = reviewed_state("approve")
    finished = later(approved, PaymentStatus.SUCCEEDED)
    record_states(database_engine, approved, finished)
    event = dispute_event(finished)

    assert record_dispute(database_engine, TENANT, finished.payment_id, event)
    # A redelivered webhook that reaches the read model again adds nothing.
    assert record_dispute(database_engine, TENANT, finished.payment_id, event)

    found = labels(database_engine, finished.payment_id)
    assert [(label.source, label.fraud) for label in found] == [
        ("dispute", True),
        ("review_approved", False),
    ]
    assert RiskFeatures.model_validate_json(found[0].features_json) == FRAUDULENT


def test_a_dispute_on_a_payment_scored_without_features_keeps_no_features(
    database_engine: Engine,
) -> None:
    state = later(processing_state(tenant_id=TENANT, provider=LIVE), PaymentStatus.SUCCEEDED)
    record_states(database_engine, state)
    assert record_dispute(database_engine, TENANT, state.payment_id, dispute_event(state))
    (label,) = labels(database_engine, state.payment_id)
    assert (label.source, label.fraud, label.features_json) == ("dispute", True, None)


async def test_a_dispute_signalled_to_a_running_sandbox_saga_is_kept_but_is_no_label(
    local_env, settings, engine
) -> None:
    """End to end through the saga: a dispute webhook arrives while the payment waits for
    capture (the API signals the running workflow); the state the saga records next carries
    it, and the read model's upsert stores no label, the payment being a sandbox one. At a
    provider that moves money, the same state is the label, with the features the check
    computed."""
    async with running_worker(local_env.client, settings, engine):
        payment = payment_input(tenant_id=TENANT, capture_method="manual")
        handle = await start_payment(local_env.client, settings, payment)
        held = await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)
        await handle.signal(PaymentWorkflow.provider_event, dispute_event(held))
        final = await handle.execute_update(PaymentWorkflow.capture, CaptureRequest())

    assert final.status == PaymentStatus.SUCCEEDED and final.dispute is not None
    assert final.provider == "sandbox"
    assert labels(engine, payment.payment_id) == []
    (label,) = labels_of(final.model_copy(update={"provider": LIVE}))
    assert (label["tenant_id"], label["source"], label["fraud"]) == (TENANT, "dispute", True)
    assert final.risk is not None and final.risk.features is not None
    assert RiskFeatures.model_validate_json(label["features_json"]) == final.risk.features
