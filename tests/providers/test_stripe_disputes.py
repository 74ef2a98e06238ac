"""Disputes on Stripe payments, through the REST API: the bank disputes a localstripe charge
(the fake's test-only endpoint), Stripe's signed events drive the dispute's saga, and the
merchant answers with evidence or accepts. The ledger follows the money Stripe moved."""

import asyncio
import uuid
from datetime import UTC
from datetime import datetime

import httpx
import pytest

from tests.providers.conftest import pay
from tests.providers.conftest import stripe_delivery
from tests.providers.conftest import stripe_event
from tests.support.embedded_stack import api_client
from tests.support.fake_stripe_connect import DISPUTE_FEE
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.tenants import bearer
from tests.support.tenants import new_tenant

AMOUNT = 1999


@pytest.fixture
async def stripe(stripe_api: str):
    headers = {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}
    async with httpx.AsyncClient(base_url=stripe_api, headers=headers, timeout=10) as client:
        yield client


async def paid(api: httpx.AsyncClient) -> dict:
    """A Stripe payment, and another sale that leaves the balance enough for a dispute fee."""
    other = await pay(api, currency="EUR", payment_method="pm_card_visa", amount=DISPUTE_FEE)
    assert other.status_code == 201, other.text
    response = await pay(api, currency="EUR", payment_method="pm_card_visa", amount=AMOUNT)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "succeeded"
    return response.json()


async def bank_disputes(stripe: httpx.AsyncClient, payment: dict) -> dict:
    """The cardholder's bank disputes the charge: Stripe withdraws the amount and the fee."""
    response = await stripe.post(
        "/_test/disputes", data={"payment_intent": payment["provider_reference"]}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def bank_decides(stripe: httpx.AsyncClient, dispute: dict, outcome: str) -> dict:
    response = await stripe.post(
        f"/_test/disputes/{dispute['id']}/decide", data={"outcome": outcome}
    )
    assert response.status_code == 200, response.text
    return response.json()


async def deliver(webhooks: httpx.AsyncClient, event: dict) -> httpx.Response:
    body, headers = stripe_delivery(event)
    response = await webhooks.post("/v1/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def dispute_of(api: httpx.AsyncClient, payment: dict, **expected) -> dict:
    """The payment's dispute once it shows what is expected (the saga works behind the API)."""
    async with asyncio.timeout(30):
        while True:
            listed = await api.get("/v1/disputes", params={"payment_id": payment["payment_id"]})
            assert listed.status_code == 200, listed.text
            found = listed.json()["data"]
            if found and all(found[0].get(k) == v for k, v in expected.items()):
                return found[0]
            await asyncio.sleep(0.2)


async def merchant_balance(api: httpx.AsyncClient, currency: str = "EUR") -> int:
    """What the merchant may pay out (the ledger's merchant balance is credit-normal)."""
    response = await api.get("/v1/ledger/balances")
    assert response.status_code == 200, response.text
    for row in response.json()["data"]:
        if (row["account"], row["currency"]) == ("merchant_balance", currency):
            return -row["balance"]
    return 0


@pytest.fixture
async def shop(api, stack):
    """A tenant of its own, so its reconciliation report holds only this test's payments."""
    async with api_client(stack, {"Authorization": f"Bearer {stack.admin_key}"}) as admin:
        _, key = await new_tenant(admin)
    async with api_client(stack, bearer(key)) as client:
        yield client


async def test_withdrawn_then_won_moves_the_balance_down_and_back(shop, webhooks, stripe):
    api = shop
    payment = await paid(api)
    before = await merchant_balance(api)
    dispute = await bank_disputes(stripe, payment)

    await deliver(webhooks, stripe_event("charge.dispute.created", dispute))
    withdrawn = stripe_event("charge.dispute.funds_withdrawn", dispute)
    await deliver(webhooks, withdrawn)
    ours = await dispute_of(api, payment, funds_withdrawn=AMOUNT)

    assert (ours["status"], ours["reason"], ours["fee"]) == (
        "needs_response",
        "fraudulent",
        DISPUTE_FEE,
    )
    assert (ours["amount"], ours["currency"], ours["provider_reference"]) == (
        AMOUNT,
        "EUR",
        dispute["id"],
    )
    assert ours["evidence_due_by"] is not None
    assert await merchant_balance(api) == before - AMOUNT - DISPUTE_FEE

    # The same event delivered again (and a fresh event saying the same) books nothing twice.
    again = await deliver(webhooks, withdrawn)
    assert again.json()["outcome"] == "duplicate"
    await deliver(webhooks, stripe_event("charge.dispute.updated", dispute))
    await asyncio.sleep(1)
    assert await merchant_balance(api) == before - AMOUNT - DISPUTE_FEE

    won = await bank_decides(stripe, dispute, "won")
    await deliver(webhooks, stripe_event("charge.dispute.funds_reinstated", won))
    await deliver(webhooks, stripe_event("charge.dispute.closed", won))
    closed = await dispute_of(api, payment, status="won")

    assert (closed["funds_withdrawn"], closed["funds_reinstated"]) == (AMOUNT, AMOUNT)
    # Stripe keeps the dispute fee it charged when the dispute arrived.
    assert await merchant_balance(api) == before - DISPUTE_FEE
    assert (await api.get(f"/v1/disputes/{closed['dispute_id']}")).json()["status"] == "won"

    today = datetime.now(UTC).date().isoformat()
    report = await api.get("/v1/reports/reconciliation", params={"date": today})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["mismatches"] == []
    [eur] = [t for t in body["totals"] if t["currency"] == "EUR"]
    assert eur["ledger_dispute_fees"] == eur["provider_dispute_fees"] >= DISPUTE_FEE
    assert eur["ledger_disputed"] == eur["provider_disputed"]


async def test_evidence_reaches_stripe_then_the_won_dispute_refuses_more(api, webhooks, stripe):
    payment = await paid(api)
    dispute = await bank_disputes(stripe, payment)
    await deliver(webhooks, stripe_event("charge.dispute.created", dispute))
    ours = await dispute_of(api, payment, status="needs_response")
    evidence = {
        "product_description": "A year of the premium plan",
        "uncategorized_text": "The customer used the service after the charge.",
    }
    key = {"Idempotency-Key": uuid.uuid4().hex}

    sent = await api.post(f"/v1/disputes/{ours['dispute_id']}/evidence", json=evidence, headers=key)
    replay = await api.post(
        f"/v1/disputes/{ours['dispute_id']}/evidence", json=evidence, headers=key
    )

    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["evidence_submissions"]) == ("under_review", 1)
    assert replay.status_code == 200 and replay.json()["evidence_submissions"] == 1
    at_stripe = (await stripe.get(f"/v1/disputes/{dispute['id']}")).json()
    assert at_stripe["evidence"]["product_description"] == evidence["product_description"]
    assert at_stripe["evidence_details"]["submission_count"] == 1

    won = await bank_decides(stripe, dispute, "won")
    await deliver(webhooks, stripe_event("charge.dispute.closed", won))
    await dispute_of(api, payment, status="won")

    late = await api.post(f"/v1/disputes/{ours['dispute_id']}/evidence", json=evidence)
    accept = await api.post(f"/v1/disputes/{ours['dispute_id']}/accept")

    for refused in (late, accept):
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "dispute_closed"


async def test_an_accepted_dispute_is_lost_and_its_money_stays_withdrawn(api, webhooks, stripe):
    payment = await paid(api)
    before = await merchant_balance(api)
    dispute = await bank_disputes(stripe, payment)
    await deliver(webhooks, stripe_event("charge.dispute.created", dispute))
    ours = await dispute_of(api, payment, funds_withdrawn=AMOUNT)

    accepted = await api.post(f"/v1/disputes/{ours['dispute_id']}/accept")

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "lost"
    assert (await stripe.get(f"/v1/disputes/{dispute['id']}")).json()["status"] == "lost"
    await deliver(webhooks, stripe_event("charge.dispute.closed", {**dispute, "status": "lost"}))
    lost = await dispute_of(api, payment, status="lost")
    assert (lost["funds_withdrawn"], lost["funds_reinstated"]) == (AMOUNT, 0)
    assert await merchant_balance(api) == before - AMOUNT - DISPUTE_FEE

    # Stripe refuses evidence on a closed dispute; so do we.
    refused = await api.post(
        f"/v1/disputes/{ours['dispute_id']}/evidence", json={"uncategorized_text": "late"}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "dispute_closed")


async def test_another_tenants_dispute_is_not_found(api, shop, webhooks, stripe):
    other = shop
    payment = await paid(api)
    dispute = await bank_disputes(stripe, payment)
    await deliver(webhooks, stripe_event("charge.dispute.created", dispute))
    ours = await dispute_of(api, payment, status="needs_response")

    found = await other.get(f"/v1/disputes/{ours['dispute_id']}")
    evidence = await other.post(
        f"/v1/disputes/{ours['dispute_id']}/evidence", json={"uncategorized_text": "x"}
    )
    listed = await other.get("/v1/disputes")

    for missing in (found, evidence):
        assert (missing.status_code, missing.json()["code"]) == (404, "dispute_not_found")
    assert listed.json()["data"] == []
    unknown = await api.get("/v1/disputes/dsp_000000000000000000000000")
    assert unknown.status_code == 404


async def test_a_withdrawal_the_balance_cannot_cover_waits_unbooked(shop, webhooks, stripe):
    """Stripe takes a chargeback whatever the balance holds; the merchant balance never goes
    into debit: the withdrawal waits, shown on the dispute, until the balance covers it."""
    api = shop
    payment = await pay(api, currency="EUR", payment_method="pm_card_visa", amount=AMOUNT)
    payment = payment.json()
    dispute = await bank_disputes(stripe, payment)

    await deliver(webhooks, stripe_event("charge.dispute.funds_withdrawn", dispute))
    short = await dispute_of(api, payment, status="needs_response")

    assert (short["funds_withdrawn"], short["ledger_shortfall"]) == (AMOUNT, DISPUTE_FEE)
    assert await merchant_balance(api) == AMOUNT  # nothing booked

    won = await bank_decides(stripe, dispute, "won")
    await deliver(webhooks, stripe_event("charge.dispute.closed", won))
    closed = await dispute_of(api, payment, status="won")

    # Withdrawal, fee and reinstatement together fit: all booked at once.
    assert closed["ledger_shortfall"] == 0
    assert await merchant_balance(api) == AMOUNT - DISPUTE_FEE
