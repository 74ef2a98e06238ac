"""After the money moved, on Stripe (localstripe and the fake Connect) through the REST API:
a refund the card issuer fails, a payout the bank returns and a payout's arrival, each
reported by a signed webhook that the settlement saga checks against Stripe before it books
anything. Balances are read through the ledger API."""

import uuid

import httpx

from tests.providers.conftest import STRIPE_CONNECT_WEBHOOK_SECRET
from tests.providers.conftest import pay
from tests.providers.conftest import refund_payment
from tests.providers.conftest import stripe_delivery
from tests.providers.conftest import stripe_event
from tests.providers.test_stripe_connect import onboarded
from tests.providers.test_stripe_connect import stripe_account
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.localstripe import fail_refund
from tests.support.settlements import settled

CONNECT_AUTH = {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}


async def test_a_refund_that_fails_later_gives_the_money_back(
    api, webhooks, localstripe, stack, stack_db
):
    payment = (await pay(api, currency="EUR", payment_method="pm_card_visa")).json()
    before = await available(api, "EUR")
    refund = (await refund_payment(api, payment["payment_id"], 1500)).json()
    assert refund["status"] == "succeeded"
    assert await available(api, "EUR") == before - 1500

    failed_at_stripe = await fail_refund(
        localstripe, refund["provider_reference"], "expired_or_canceled_card"
    )
    event = stripe_event("refund.failed", failed_at_stripe)
    answer = await deliver(webhooks, event)

    assert answer["outcome"] == "signaled"
    assert await settled(stack, refund) == ["refund failed: expired_or_canceled_card"]
    state = (await api.get(f"/v1/refunds/{refund['refund_id']}")).json()
    assert (state["status"], state["failure_code"]) == ("failed", "expired_or_canceled_card")
    assert state["steps"][-1]["name"] == "settle_late_outcome"
    assert await available(api, "EUR") == before
    paid = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert (paid["status"], paid["refunded_amount"]) == ("succeeded", 0)
    # The refund's money is refundable again.
    again = await refund_payment(api, payment["payment_id"], 1999)
    assert again.json()["status"] == "succeeded", again.text
    assert await available(api, "EUR") == before - 1999

    # The same delivery again, and Stripe's other event of the same failure: nothing twice.
    assert (await deliver(webhooks, event))["outcome"] == "duplicate"
    assert (await deliver(webhooks, stripe_event("refund.updated", failed_at_stripe)))[
        "outcome"
    ] == "signaled"
    assert await settled(stack, refund) == ["refund is failed: nothing to do"]
    assert await available(api, "EUR") == before - 1999


async def test_a_payout_is_paid_then_returned_by_the_bank(
    api, webhooks, stripe_connect, stack, stack_db
):
    await pay(api, currency="EUR", payment_method="pm_card_visa")
    before = await available(api, "EUR")
    made = await onboarded(api, webhooks, stripe_connect, await stripe_account(api))
    account, at_stripe = made["account_id"], made["provider_account_id"]
    payout = await api.post(
        "/v1/payouts",
        json={"connected_account": account, "amount": 1200, "currency": "EUR"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    payout = payout.json()
    assert payout["status"] == "succeeded", payout
    assert payout["arrived_at"] is None  # on its way: Stripe's payout is pending
    assert await available(api, "EUR") == before - 1200
    reference = payout["payout_reference"]

    async with httpx.AsyncClient(base_url=stripe_connect, headers=CONNECT_AUTH) as connect_api:
        paid = (await connect_api.post(f"/_test/payouts/{reference}/paid")).json()
        arrival, signed = connect_event("payout.paid", paid, at_stripe)
        assert (await deliver(webhooks, arrival, **signed))["outcome"] == "signaled"
        assert await settled(stack, payout) == ["payout arrived"]
        arrived = (await api.get(f"/v1/payouts/{payout['payout_id']}")).json()
        assert (arrived["status"], arrived["arrived_at"] is not None) == ("succeeded", True)

        returned = await connect_api.post(
            f"/_test/payouts/{reference}/fail", data={"failure_code": "account_closed"}
        )
        event, signed = connect_event("payout.failed", returned.json(), at_stripe)
        assert (await deliver(webhooks, event, **signed))["outcome"] == "signaled"
        assert await settled(stack, payout) == ["payout failed: account_closed"]
        transfer = (await connect_api.get(f"/v1/transfers/{payout['transfer_reference']}")).json()

    state = (await api.get(f"/v1/payouts/{payout['payout_id']}")).json()
    assert (state["status"], state["failure_code"]) == ("failed", "account_closed")
    assert state["failure_message"] == "The bank account has been closed."
    # The transfer came back from the connected account: the merchant has the money again.
    assert transfer["amount_reversed"] == 1200
    assert await available(api, "EUR") == before
    assert await balance_of(api, f"connected_balance:{account}", "EUR") == 0

    # Redelivered, and a late payout.paid after the failure: nothing changes twice.
    assert (await deliver(webhooks, event, **signed))["outcome"] == "duplicate"
    late_paid, signed = connect_event("payout.paid", paid, at_stripe)
    assert (await deliver(webhooks, late_paid, **signed))["outcome"] == "signaled"
    assert await settled(stack, payout) == ["payout is failed: nothing to do"]
    assert await available(api, "EUR") == before


async def test_an_event_about_no_refund_or_payout_of_ours_is_stored_only(api, webhooks):
    refund = {"id": "re_not_ours", "object": "refund", "amount": 100, "currency": "eur"}
    refund |= {"status": "failed", "failure_reason": "unknown", "metadata": {}}
    payout = {"id": "po_not_ours", "object": "payout", "amount": 100, "currency": "eur"}
    payout |= {"status": "failed", "failure_code": "no_account", "metadata": {}}

    for event in (stripe_event("refund.failed", refund), stripe_event("payout.failed", payout)):
        assert (await deliver(webhooks, event))["outcome"] == "unknown_object"


async def deliver(webhooks: httpx.AsyncClient, event: dict, **signed) -> dict:
    body, headers = stripe_delivery(event, **signed)
    response = await webhooks.post("/v1/webhooks/stripe", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def connect_event(event_type: str, obj: dict, account: str) -> tuple[dict, dict]:
    """A connected account's event, as Stripe sends it to a Connect endpoint: naming the
    account, signed with that endpoint's secret; (event, how it is signed)."""
    event = stripe_event(event_type, obj) | {"account": account}
    return event, {"secret": STRIPE_CONNECT_WEBHOOK_SECRET}


async def available(api: httpx.AsyncClient, currency: str) -> int:
    return -await balance_of(api, "merchant_balance", currency)


async def balance_of(api: httpx.AsyncClient, account: str, currency: str) -> int:
    balances = (await api.get("/v1/ledger/balances")).json()["data"]
    return sum(
        b["balance"] for b in balances if b["account"] == account and b["currency"] == currency
    )
