"""Connected accounts at the gateway: made not onboarded, onboarded on their page, and paid
out only then; instant payouts only to a bank account that takes them."""

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import created
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_account
from tests.workers.sandbox_gateway.conftest import new_key


def made_account(gateway: Gateway, key: str | None = None) -> dict:
    return created(
        gateway.post("/v1/accounts", {"reference": new_key("acct")}, key=key or new_key()),
        "acct_",
    )


def test_an_account_is_made_once_per_key_and_waits_for_onboarding(gateway: Gateway) -> None:
    key = new_key()
    account = made_account(gateway, key)
    again = gateway.post("/v1/accounts", {"reference": account["reference"]}, key=key)
    unkeyed = gateway.post("/v1/accounts", {"reference": "acct_x"})

    assert (again.status_code, again.json()) == (200, account)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert error_code(unkeyed) == "idempotency_key_required"
    assert (account["charges_enabled"], account["payouts_enabled"]) == (False, False)
    assert account["requirements"]["currently_due"]
    assert account["requirements"]["disabled_reason"] == "requirements.past_due"
    assert gateway.http.get(f"/v1/accounts/{account['id']}").json() == account


def test_onboarding_link_page_and_completion(gateway: Gateway) -> None:
    account = made_account(gateway)
    urls = {"refresh_url": "https://p.example/r", "return_url": "https://p.example/d"}

    link = gateway.http.post("/v1/account_links", json={"account": account["id"], **urls})
    unknown = gateway.http.post("/v1/account_links", json={"account": new_account(), **urls})
    page = gateway.http.get(link.json()["url"].removeprefix(gateway.base_url))
    done = gateway.http.post(f"/v1/accounts/{account['id']}/onboarding/complete")

    assert link.status_code == 200, link.text
    assert link.json()["url"].endswith(f"/v1/accounts/{account['id']}/onboarding")
    assert (unknown.status_code, error_code(unknown)) == (404, "resource_missing")
    assert page.status_code == 200 and "Finish onboarding" in page.text
    onboarded = done.json()
    assert (onboarded["charges_enabled"], onboarded["payouts_enabled"]) == (True, True)
    assert onboarded["requirements"] == {"currently_due": [], "disabled_reason": None}


def test_payouts_wait_for_onboarding_and_instant_needs_a_bank_that_takes_it(
    gateway: Gateway,
) -> None:
    account = made_account(gateway)["id"]
    gateway.captured(5000)
    assert gateway.transfer(1000, account).status_code == 200

    early_key = new_key()
    early = gateway.payout(100, account, key=early_key)
    gateway.http.post(f"/v1/accounts/{account}/onboarding/complete")
    ineligible = gateway.payout(100, account, "ba_ok", method="instant")
    instant = created(gateway.payout(100, account, "ba_instantDebit", method="instant"), "pout_")

    assert (early.status_code, error_code(early)) == (400, "payouts_not_allowed")
    assert early_key not in gateway.stats()["applied_by_key"]
    assert (ineligible.status_code, error_code(ineligible)) == (400, "instant_payouts_unsupported")
    assert (instant["status"], instant["method"]) == ("paid", "instant")
    assert instant["arrival_date"][:19] == instant["created"][:19]
    assert gateway.available(account) == {"USD": 900}
