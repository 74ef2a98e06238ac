"""The README's walk from a card to a payout, all at Stripe (localstripe with the fake
Connect), as a new user with a Stripe test key follows it through the REST API: save a
customer's card, subscribe them, onboard a seller at Stripe, pay the seller out of what the
subscription brought in. Each step is checked at the provider, not only in our answers."""

from tests.providers.conftest import stripe_object
from tests.providers.test_customers import saved_card
from tests.providers.test_customers import subscribe
from tests.providers.test_stripe_connect import at_connect
from tests.providers.test_stripe_connect import onboarded
from tests.providers.test_stripe_connect import payout
from tests.providers.test_stripe_connect import stripe_account
from tests.support.connected_accounts import onboarding_link


async def test_a_saved_card_subscribed_and_a_seller_paid_out_all_at_stripe(
    api, webhooks, localstripe, stripe_connect
):
    customer, method = await saved_card(api, localstripe)
    assert method["status"] == "active"

    subscription = await subscribe(api, customer, method)
    period = subscription["periods"][0]
    assert period["status"] == "paid", period
    charge = (await api.get(f"/v1/payments/{period['payment_id']}")).json()
    intent = await stripe_object(localstripe, f"/v1/payment_intents/{charge['provider_reference']}")
    assert intent["customer"] == customer["provider_customers"]["stripe"]
    assert (intent["status"], intent["amount"]) == ("succeeded", 1500)

    seller = await stripe_account(api)
    assert seller["payouts_enabled"] is False
    link = await onboarding_link(api, seller["account_id"])
    assert link["url"]
    seller = await onboarded(api, webhooks, stripe_connect, seller)
    assert seller["payouts_enabled"] is True

    paid = await payout(api, seller["account_id"], 1_000)
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "succeeded", paid.json()
    destination = {"destination": seller["provider_account_id"]}
    transfers = await at_connect(stripe_connect, "GET", "/v1/transfers", params=destination)
    assert [t["amount"] for t in transfers["data"]] == [1_000]
    await api.post(f"/v1/subscriptions/{subscription['subscription_id']}/cancel", json={})
