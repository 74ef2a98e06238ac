"""Connected accounts at Stripe (the fake Connect behind localstripe) through the REST API:
made as Express accounts, onboarded on Stripe's pages, paid out only once Stripe's signed
``account.updated`` says payouts are enabled; instant payouts; forged or stale events and
other tenants change nothing."""

import time
import uuid

import httpx

from tests.providers.conftest import pay
from tests.providers.conftest import stripe_delivery
from tests.providers.conftest import stripe_event
from tests.support.connected_accounts import onboarding_link
from tests.support.embedded_stack import api_client
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.tenants import tenant_client

AUTH = {"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"}


async def stripe_account(api: httpx.AsyncClient, bank_account: str = "ba_ok") -> dict:
    response = await api.post(
        "/v1/connected-accounts",
        json={"name": "Seller GmbH", "bank_account": bank_account, "provider": "stripe"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def at_connect(stripe_connect: str, method: str, path: str, **options) -> dict:
    async with httpx.AsyncClient(base_url=stripe_connect, headers=AUTH, timeout=10) as http:
        response = await http.request(method, path, **options)
    response.raise_for_status()
    return response.json()


async def account_updated(webhooks: httpx.AsyncClient, account: dict, **delivery) -> httpx.Response:
    """Stripe's ``account.updated`` about a connected account, signed as Stripe signs it."""
    event = stripe_event("account.updated", account) | {"account": account["id"]}
    body, headers = stripe_delivery(event, **delivery)
    return await webhooks.post("/v1/webhooks/stripe", content=body, headers=headers)


async def onboarded(api, webhooks, stripe_connect, account: dict) -> dict:
    """The holder finishes Stripe's onboarding; Stripe tells us with ``account.updated``."""
    reference = account["provider_account_id"]
    finished = await at_connect(
        stripe_connect, "POST", f"/v1/test/accounts/{reference}/complete_onboarding"
    )
    receipt = await account_updated(webhooks, finished)
    assert (receipt.status_code, receipt.json()["outcome"]) == (200, "recorded"), receipt.text
    return (await api.get(f"/v1/connected-accounts/{account['account_id']}")).json()


async def pay_in_at_stripe(api: httpx.AsyncClient, amount: int) -> None:
    paid = await pay(api, amount=amount, provider="stripe", payment_method="pm_card_visa")
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text


async def payout(api: httpx.AsyncClient, account_id: str, amount: int, **body) -> httpx.Response:
    body = {"connected_account": account_id, "amount": amount, "currency": "USD", **body}
    return await api.post("/v1/payouts", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})


async def test_an_express_account_is_paid_out_once_stripe_says_payouts_are_enabled(
    api, webhooks, stripe_connect
):
    account = await stripe_account(api)
    reference = account["provider_account_id"]
    at_stripe = await at_connect(stripe_connect, "GET", f"/v1/accounts/{reference}")
    link = await onboarding_link(api, account["account_id"])
    await pay_in_at_stripe(api, 3_000)
    ledger_before = (await api.get("/v1/ledger/balances")).json()
    payouts_before = (await api.get("/v1/payouts")).json()

    refused = await payout(api, account["account_id"], 1_000)
    ledger_after_refusal = (await api.get("/v1/ledger/balances")).json()
    payouts_after_refusal = (await api.get("/v1/payouts")).json()
    enabled = await onboarded(api, webhooks, stripe_connect, account)
    paid = await payout(api, account["account_id"], 1_000)

    assert reference.startswith("acct_") and reference != account["account_id"]
    assert (at_stripe["type"], at_stripe["metadata"]["account_id"]) == (
        "express",
        account["account_id"],
    )
    assert at_stripe["capabilities"] == {"transfers": "inactive"}
    assert (account["charges_enabled"], account["payouts_enabled"]) == (False, False)
    assert "external_account" in account["requirements_due"]
    assert account["disabled_reason"] == "requirements.past_due"
    assert link["url"].startswith(f"https://connect.stripe.com/setup/e/{reference}/")
    assert link["expires_at"]
    assert (refused.status_code, refused.json()["code"]) == (422, "payouts_not_enabled")
    assert (ledger_after_refusal, payouts_after_refusal) == (ledger_before, payouts_before)
    assert (enabled["charges_enabled"], enabled["payouts_enabled"]) == (True, True)
    assert (enabled["requirements_due"], enabled["disabled_reason"]) == ([], None)
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded"
    transfers = await at_connect(
        stripe_connect, "GET", "/v1/transfers", params={"transfer_group": paid.json()["payout_id"]}
    )
    assert [t["destination"] for t in transfers["data"]] == [reference]
    on_account = await at_connect(
        stripe_connect, "GET", "/v1/payouts", headers={"Stripe-Account": reference}
    )
    assert [p["metadata"]["payout_id"] for p in on_account["data"]] == [paid.json()["payout_id"]]


async def test_forged_stale_and_lying_account_updates_change_nothing(api, webhooks, stripe_connect):
    account = await stripe_account(api)
    reference = account["provider_account_id"]
    at_stripe = await at_connect(stripe_connect, "GET", f"/v1/accounts/{reference}")
    # What an attacker would like Stripe to have said.
    claimed = at_stripe | {"payouts_enabled": True, "charges_enabled": True}
    claimed["requirements"] = {"currently_due": [], "disabled_reason": None}

    forged = await account_updated(webhooks, claimed, secret="whsec_not_stripes")
    stale = await account_updated(webhooks, claimed, timestamp=int(time.time()) - 3_600)
    # Genuine, but Stripe says otherwise when asked: the event is only a hint.
    hint = await account_updated(webhooks, claimed)

    assert (forged.status_code, forged.json()["code"]) == (400, "invalid_webhook_signature")
    assert (stale.status_code, stale.json()["code"]) == (400, "invalid_webhook_signature")
    assert (hint.status_code, hint.json()["outcome"]) == (200, "recorded")
    now = (await api.get(f"/v1/connected-accounts/{account['account_id']}")).json()
    assert now == account
    refused = await payout(api, account["account_id"], 1)
    assert (refused.status_code, refused.json()["code"]) == (422, "payouts_not_enabled")


async def test_an_account_update_about_an_account_we_never_made_is_acknowledged(webhooks):
    stranger = {"id": f"acct_{uuid.uuid4().hex[:16]}", "object": "account"}
    receipt = await account_updated(webhooks, stranger)
    assert (receipt.status_code, receipt.json()["outcome"]) == (200, "unknown_object")


async def test_an_instant_payout_at_stripe(api, webhooks, stripe_connect):
    instant_bank = await onboarded(
        api, webhooks, stripe_connect, await stripe_account(api, "ba_instantDebit")
    )
    await pay_in_at_stripe(api, 2_000)

    paid = await payout(api, instant_bank["account_id"], 1_500, method="instant")

    assert paid.status_code == 201, paid.text
    state = paid.json()
    assert (state["status"], state["method"]) == ("succeeded", "instant")
    assert state["arrival_date"][:16] <= state["updated_at"][:16]  # minutes, not days
    reference = instant_bank["provider_account_id"]
    on_account = await at_connect(
        stripe_connect, "GET", "/v1/payouts", headers={"Stripe-Account": reference}
    )
    assert [p["method"] for p in on_account["data"]] == ["instant"]


async def test_another_tenants_stripe_account_is_not_found(api, stack):
    account = await stripe_account(api)
    admin = api_client(stack, {"Authorization": f"Bearer {stack.admin_key}"})
    async with admin, tenant_client(stack, admin) as (_, other):
        link = await other.post(
            f"/v1/connected-accounts/{account['account_id']}/onboarding-link",
            json={"refresh_url": "https://x.example/r", "return_url": "https://x.example/d"},
        )
        refresh = await other.post(f"/v1/connected-accounts/{account['account_id']}/refresh")
        stolen = await payout(other, account["account_id"], 1)
    assert (link.status_code, link.json()["code"]) == (404, "connected_account_not_found")
    assert (refresh.status_code, refresh.json()["code"]) == (404, "connected_account_not_found")
    assert (stolen.status_code, stolen.json()["code"]) == (404, "connected_account_not_found")
