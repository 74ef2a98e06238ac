"""Late failures on the sandbox gateway through the REST API: the gateway fails a refund or
a payout after it had succeeded and sends its signed webhook (Standard Webhooks); the
settlement saga re-reads the gateway and gives the money back. Each test is a tenant of its
own, so the balances it reads through the ledger API are its own."""

import json
import uuid

import httpx

from schemas.webhook_signatures import signature_headers
from tests.e2e.test_payouts_api import available
from tests.e2e.test_payouts_api import new_account
from tests.e2e.test_payouts_api import pay_in
from tests.e2e.test_payouts_api import payout
from tests.support.settlements import settled


async def test_a_refund_the_card_issuer_fails_later(merchant, gateway, anonymous, stack):
    payment_balance = await pay_in(merchant, 1999)
    payment_id = (await merchant.get("/v1/payments")).json()["data"][0]["payment_id"]
    refund = await merchant.post(
        f"/v1/payments/{payment_id}/refunds",
        json={"amount": 700},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    refund = refund.json()
    assert refund["status"] == "succeeded"
    assert await available(merchant) == payment_balance - 700

    failed = await gateway.post(f"/v1/test_helpers/refunds/{refund['provider_reference']}/fail")
    assert failed.status_code == 200, failed.text
    assert failed.json()["delivered"] == 200

    assert await settled(stack, refund) == ["refund failed: expired_or_canceled_card"]
    state = (await merchant.get(f"/v1/refunds/{refund['refund_id']}")).json()
    assert (state["status"], state["failure_code"]) == ("failed", "expired_or_canceled_card")
    assert await available(merchant) == payment_balance
    paid = (await merchant.get(f"/v1/payments/{payment_id}")).json()
    assert (paid["status"], paid["refunded_amount"]) == ("succeeded", 0)

    # The same event delivered again changes nothing; the gateway refuses to fail it twice.
    again = await redeliver(anonymous, stack, failed.json()["event"])
    assert again["outcome"] == "duplicate"
    twice = await gateway.post(f"/v1/test_helpers/refunds/{refund['provider_reference']}/fail")
    assert (twice.status_code, twice.json()["error"]["code"]) == (400, "refund_not_succeeded")
    assert await available(merchant) == payment_balance


async def test_a_payout_the_bank_returns(merchant, gateway, anonymous, stack):
    funded = await pay_in(merchant, 5000)
    account = await new_account(merchant)
    sent = (await payout(merchant, connected_account=account["account_id"], amount=3000)).json()
    assert sent["status"] == "succeeded", sent
    assert await available(merchant) == funded - 3000

    returned = await gateway.post(
        f"/v1/test_helpers/payouts/{sent['payout_reference']}/fail",
        json={"failure_code": "no_account"},
    )
    assert returned.json()["delivered"] == 200, returned.text

    assert await settled(stack, sent) == ["payout failed: no_account"]
    state = (await merchant.get(f"/v1/payouts/{sent['payout_id']}")).json()
    assert (state["status"], state["failure_code"]) == ("failed", "no_account")
    assert await available(merchant) == funded
    transfer = (await gateway.get(f"/v1/transfers/{sent['transfer_reference']}")).json()
    assert transfer["amount_reversed"] == 3000

    # A new event about the same failure (a second delivery of the provider's) starts the
    # saga again, which finds nothing left to do.
    event = dict(returned.json()["event"], id=f"evt_{uuid.uuid4().hex}")
    assert (await redeliver(anonymous, stack, event))["outcome"] == "signaled"
    assert await settled(stack, sent) == ["payout is failed: nothing to do"]
    assert await available(merchant) == funded


async def test_an_unsigned_or_forged_event_is_refused(anonymous, stack):
    event = {"id": "evt_forged", "type": "refund.failed", "data": {"object": {}}}
    body = json.dumps(event).encode()
    forged = signature_headers("not-the-secret", event["id"], body)

    for headers in ({}, forged):
        response = await anonymous.post("/v1/webhooks/sandbox", content=body, headers=headers)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_webhook_signature"


async def redeliver(client: httpx.AsyncClient, stack, event: dict) -> dict:
    """``event`` sent again, signed as the gateway signs it."""
    body = json.dumps(event).encode()
    headers = signature_headers(stack.sandbox_webhook_secret, event["id"], body)
    response = await client.post("/v1/webhooks/sandbox", content=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()
