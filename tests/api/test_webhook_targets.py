"""Whose payment a verified webhook is about comes from our records, never from the event's
metadata alone: anyone who creates an object at the platform's provider account chooses its
metadata. The real app on a real SQLite database, with Stripe's signature scheme (verified
locally, so no Stripe is needed) and no Temporal: an event that got as far as signaling a
saga would answer 503 here."""

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from sqlmodel import select
from stripe import WebhookSignature

from schemas.payments import PaymentStatus
from schemas.provider_events import ProviderEvent
from schemas.refunds import RefundState
from schemas.refunds import RefundStatus
from schemas.store.read_model import REFUNDS
from schemas.store.read_model import upsert_payment
from schemas.store.tables import WebhookEventRecord
from schemas.store.webhook_events import TargetMismatch
from schemas.store.webhook_events import find_payment
from schemas.store.webhook_events import find_settlement_subject
from tests.support.api_app import asgi_client
from tests.support.api_app import running_app
from tests.support.api_app import settings_without_temporal
from tests.support.payments import processing_state

SECRET = "whsec_paysaga_webhook_targets"
VICTIM = ("ten_victim", "pay_" + "b" * 24, "pi_victim")
ATTACKER = ("ten_attacker", "pay_" + "a" * 24, "pi_attacker")


@pytest.fixture
def payments(engine: Engine) -> None:
    """A payment of each tenant at Stripe, waiting for its customer (3-D Secure)."""
    with engine.begin() as connection:
        for tenant, payment_id, intent in (VICTIM, ATTACKER):
            state = processing_state(
                tenant_id=tenant,
                payment_id=payment_id,
                provider="stripe",
                provider_reference=intent,
                status=PaymentStatus.REQUIRES_ACTION,
            )
            upsert_payment(connection, state)


@pytest.fixture
async def webhooks(engine: Engine, payments) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_without_temporal(
        engine,
        stripe_api_key="sk_test_paysaga",
        stripe_api_base="http://127.0.0.1:9",
        stripe_webhook_secret=SECRET,
    )
    async with running_app(settings) as app, asgi_client(app) as client:
        yield client


def signed_event(intent: str, metadata: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A genuine Stripe delivery: only the metadata is the object creator's choice."""
    body = {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "type": "payment_intent.succeeded",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": intent,
                "object": "payment_intent",
                "amount": 1999,
                "amount_received": 1999,
                "currency": "usd",
                "metadata": metadata,
            }
        },
    }
    content = json.dumps(body).encode()
    header = WebhookSignature.generate_signature_header(content.decode(), SECRET, int(time.time()))
    return content, {"Stripe-Signature": header}


def names(target: tuple[str, str, str]) -> dict[str, str]:
    return {"tenant_id": target[0], "payment_id": target[1]}


async def test_metadata_naming_another_tenants_payment_is_refused_and_logged(
    webhooks, engine, caplog
):
    # The attacker's own PaymentIntent, its metadata pointing at the victim's payment.
    content, headers = signed_event(ATTACKER[2], names(VICTIM))

    with caplog.at_level(logging.WARNING, logger="paysaga.api.webhooks"):
        response = await webhooks.post("/v1/webhooks/stripe", content=content, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "target_mismatch"
    [warning] = [r for r in caplog.records if r.name == "paysaga.api.webhooks"]
    assert warning.claimed == [VICTIM[0], VICTIM[1]]
    assert warning.recorded == [ATTACKER[0], ATTACKER[1]]
    with Session(engine) as session:
        stored = session.exec(
            select(WebhookEventRecord).where(
                WebhookEventRecord.event_id == json.loads(content)["id"]
            )
        ).one()
    assert stored.outcome == "target_mismatch"


async def test_metadata_alone_finds_no_payment(webhooks):
    # An object paysaga never made, claiming to be the victim's payment.
    content, headers = signed_event("pi_made_elsewhere", names(VICTIM))

    response = await webhooks.post("/v1/webhooks/stripe", content=content, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "unknown_object"


def event(**fields: Any) -> ProviderEvent:
    base = {"provider": "stripe", "event_id": "evt_1", "event_type": "x", "kind": "ignored"}
    return ProviderEvent(**(base | fields))


def test_the_payment_is_the_one_our_records_hold_for_the_provider_object(engine, payments):
    victim = names(VICTIM)
    assert find_payment(engine, event(object_reference=VICTIM[2], **victim)) == VICTIM[:2]
    assert find_payment(engine, event(object_reference=VICTIM[2])) == VICTIM[:2]
    with pytest.raises(TargetMismatch):
        find_payment(engine, event(object_reference=ATTACKER[2], **victim))
    # Another provider's object of the same id is not ours.
    assert find_payment(engine, event(provider="paypal", object_reference=VICTIM[2])) is None
    # A dispute that names no payment object (PayPal's): the claimed payment must be the
    # tenant's and made at that provider.
    dispute = {"object_reference": "PP-D-1", "dispute_reference": "PP-D-1"}
    assert find_payment(engine, event(**dispute, **victim)) == VICTIM[:2]
    wrong_tenant = {"tenant_id": ATTACKER[0], "payment_id": VICTIM[1]}
    assert find_payment(engine, event(**dispute, **wrong_tenant)) is None
    assert find_payment(engine, event(provider="paypal", **dispute, **victim)) is None


def test_a_late_refund_event_is_the_refund_our_records_hold(engine):
    now = datetime.now(UTC)
    refunds = {
        tenant: RefundState(
            refund_id=f"re_{tenant}",
            tenant_id=tenant,
            payment_id=payment_id,
            status=RefundStatus.SUCCEEDED,
            amount=500,
            currency="USD",
            provider="stripe",
            provider_reference=f"re_stripe_{tenant}",
            created_at=now,
            updated_at=now,
        )
        for tenant, payment_id, _ in (VICTIM, ATTACKER)
    }
    with engine.begin() as connection:
        for refund in refunds.values():
            REFUNDS.upsert(connection, refund)
    victim, attacker = refunds[VICTIM[0]], refunds[ATTACKER[0]]

    def failed(reference: str, **ours: str) -> ProviderEvent:
        return event(kind="refund_failed", object_reference=reference, **ours)

    found = find_settlement_subject(engine, failed(victim.provider_reference))
    assert (found.tenant_id, found.subject_id) == (VICTIM[0], victim.refund_id)
    claims_victim = {"tenant_id": VICTIM[0], "refund_id": victim.refund_id}
    # The attacker's refund, its metadata naming the victim's.
    with pytest.raises(TargetMismatch):
        find_settlement_subject(engine, failed(attacker.provider_reference, **claims_victim))
    # An object paysaga never made, naming the victim's refund that the provider has made.
    with pytest.raises(TargetMismatch):
        find_settlement_subject(engine, failed("re_made_elsewhere", **claims_victim))
