"""A card the customer never finishes saving: its SetupIntent at Stripe (localstripe) is
canceled once the action times out, so the card cannot be attached to the customer behind
our back, and the method is recorded ``failed``. The action timeout passes in seconds: the
real API app over ASGI and an in-process worker on this module's own time-skipping server."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from schemas.store.tables import SavedPaymentMethodRecord
from tests.conftest import time_skipping_env
from tests.providers.conftest import stripe_object
from tests.providers.test_off_session_billing import merchant  # noqa: F401 (a fixture)
from tests.providers.test_off_session_billing import once
from tests.support.localstripe import CARD_THREE_D_SECURE
from tests.support.localstripe import card_payment_method


async def recorded_failed(engine, method_id: str, seconds: float = 30):
    """The method's row once the saga recorded it ``failed``."""
    async with asyncio.timeout(seconds):
        while True:
            with Session(engine) as session:
                record = session.get(SavedPaymentMethodRecord, method_id)
            if record is not None and record.status == "failed":
                return record
            await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """This module's own time-skipping server: the hour skipped here runs no one else's."""
    async with time_skipping_env() as env:
        yield env


async def test_a_setup_the_customer_abandons_is_canceled_at_stripe(
    merchant,  # noqa: F811 (the fixture imported above)
    time_env,
    localstripe,
    settings,
    engine,
):
    _, api = merchant
    customer = (await api.post("/v1/customers", json={"name": "Ada"}, headers=once())).json()
    card = await card_payment_method(localstripe, CARD_THREE_D_SECURE)
    path = f"/v1/customers/{customer['customer_id']}/payment-methods"
    saved = await api.post(path, json={"payment_method": card}, headers=once())
    assert saved.status_code == 201, saved.text
    assert saved.json()["status"] == "requires_action"
    method_path = f"{path}/{saved.json()['payment_method_id']}"
    setup = (await api.get(f"{method_path}/customer-action")).json()
    assert setup["client_secret"]

    await time_env.sleep(settings.action_timeout + timedelta(minutes=1))

    record = await recorded_failed(engine, saved.json()["payment_method_id"])
    assert record.failure_code == "action_expired"
    assert (await api.get(path)).json()["data"] == []  # only active methods are listed
    at_stripe = await stripe_object(localstripe, f"/v1/setup_intents/{record.setup_reference}")
    assert at_stripe["status"] == "canceled"
    card_at_stripe = await stripe_object(localstripe, f"/v1/payment_methods/{card}")
    assert card_at_stripe["customer"] is None
    gone = await api.get(f"{method_path}/customer-action")
    assert gone.status_code == 404, gone.text
