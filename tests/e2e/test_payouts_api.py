"""Connected accounts, payouts and payout schedules through the REST API on the embedded
stack (real Temporal, gateway and SQLite). Each test pays in as a tenant of its own, so the
balances it sees are its own."""

import asyncio
import uuid

import httpx

from tests.e2e.conftest import payment_body
from tests.support.connected_accounts import ONBOARDING_URLS
from tests.support.connected_accounts import onboard_at_sandbox
from tests.support.connected_accounts import onboarding_link
from tests.support.tenants import tenant_client

PROBLEM_JSON = "application/problem+json"


async def pay_in(client: httpx.AsyncClient, amount: int) -> int:
    """A payment of ``amount``; returns the merchant balance available afterwards."""
    response = await client.post(
        "/v1/payments",
        json=payment_body(amount=amount),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201 and response.json()["status"] == "succeeded"
    return await available(client)


async def available(client: httpx.AsyncClient) -> int:
    balances = (await client.get("/v1/ledger/balances")).json()["data"]
    return -sum(b["balance"] for b in balances if b["account"] == "merchant_balance")


async def new_account(
    client: httpx.AsyncClient, bank_account: str = "ba_ok", *, onboarded: bool = True, **headers
) -> dict:
    """A sandbox connected account, onboarded unless asked otherwise."""
    response = await client.post(
        "/v1/connected-accounts",
        json={"name": "Seller GmbH", "bank_account": bank_account},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    account = response.json()
    return await onboard_at_sandbox(client, account["account_id"]) if onboarded else account


async def payout(client: httpx.AsyncClient, key: str | None = None, **body) -> httpx.Response:
    body.setdefault("currency", "USD")
    return await client.post(
        "/v1/payouts", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex}
    )


async def test_connected_accounts_are_created_once_per_key_and_only_with_tokens(merchant):
    key = uuid.uuid4().hex

    account = await new_account(merchant, onboarded=False, **{"Idempotency-Key": key})
    again = await merchant.post(
        "/v1/connected-accounts",
        json={"name": "Seller GmbH", "bank_account": "ba_ok"},
        headers={"Idempotency-Key": key},
    )
    number = await merchant.post(
        "/v1/connected-accounts", json={"name": "Seller", "bank_account": "DE89370400440532013000"}
    )

    assert account["account_id"].startswith("acct_")
    assert (account["bank_account"], account["provider"]) == ("ba_ok", "sandbox")
    assert (again.status_code, again.json()) == (201, account)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert number.status_code == 422
    assert number.headers["content-type"] == PROBLEM_JSON
    assert "DE89370400440532013000" not in number.text  # never echoed
    fetched = await merchant.get(f"/v1/connected-accounts/{account['account_id']}")
    assert fetched.json() == account
    listed = (await merchant.get("/v1/connected-accounts")).json()["data"]
    assert [a["account_id"] for a in listed] == [account["account_id"]]


async def test_an_account_is_paid_out_only_once_onboarded_at_the_sandbox(merchant, gateway):
    account = await new_account(merchant, onboarded=False)
    account_id = account["account_id"]
    before = await pay_in(merchant, 5_000)
    ledger_before = (await merchant.get("/v1/ledger/balances")).json()

    refused = await payout(merchant, connected_account=account_id, amount=1_000)
    ledger_after_refusal = (await merchant.get("/v1/ledger/balances")).json()
    payouts_after_refusal = (await merchant.get("/v1/payouts")).json()
    link = await onboarding_link(merchant, account_id)
    page = await gateway.get(link["url"].removeprefix(str(gateway.base_url).rstrip("/")))
    onboarded = await onboard_at_sandbox(merchant, account_id)
    paid = await payout(merchant, connected_account=account_id, amount=1_000)

    assert account["provider_account_id"].startswith("acct_")
    assert account["provider_account_id"] != account_id  # the gateway's, not ours
    assert (account["charges_enabled"], account["payouts_enabled"]) == (False, False)
    assert account["requirements_due"] and account["disabled_reason"]
    assert (refused.status_code, refused.json()["code"]) == (422, "payouts_not_enabled")
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert "external_account" in refused.json()["detail"]
    # Nothing was reserved or stored for the refused payout.
    assert ledger_after_refusal == ledger_before
    assert payouts_after_refusal == {"data": []}
    assert link["url"].startswith(str(gateway.base_url).rstrip("/"))
    assert page.status_code == 200 and "Finish onboarding" in page.text
    assert (onboarded["payouts_enabled"], onboarded["requirements_due"]) == (True, [])
    assert (await merchant.get(f"/v1/connected-accounts/{account_id}")).json() == onboarded
    assert paid.status_code == 201, paid.text
    assert (paid.json()["status"], paid.json()["method"]) == ("succeeded", "standard")
    assert paid.json()["arrival_date"] > paid.json()["created_at"]
    transfers = await gateway.get("/v1/transfers", params={"reference": paid.json()["payout_id"]})
    assert [t["destination"] for t in transfers.json()["data"]] == [account["provider_account_id"]]
    assert await available(merchant) == before - 1_000


async def test_an_instant_payout_needs_a_bank_account_that_takes_it(merchant):
    instant_bank = (await new_account(merchant, bank_account="ba_instantDebit"))["account_id"]
    standard_bank = (await new_account(merchant))["account_id"]
    before = await pay_in(merchant, 5_000)

    instant = await payout(merchant, connected_account=instant_bank, amount=1_000, method="instant")
    refused = await payout(
        merchant, connected_account=standard_bank, amount=1_000, method="instant"
    )

    assert instant.status_code == 201, instant.text
    paid = instant.json()
    assert (paid["status"], paid["method"]) == ("succeeded", "instant")
    assert paid["arrival_date"][:16] <= paid["updated_at"][:16]  # minutes, not days
    assert refused.status_code == 201, refused.text
    failed = refused.json()
    assert (failed["status"], failed["method"]) == ("failed", "instant")
    assert "instant_payouts_unsupported" in failed["failure_message"]
    # The refused one's money came back; only the instant payout left.
    assert await available(merchant) == before - 1_000


async def test_payouts_pay_out_the_balance_and_refuse_what_it_cannot_cover(merchant, gateway):
    account_id = (await new_account(merchant))["account_id"]
    before = await pay_in(merchant, 10_000)

    part = await payout(merchant, connected_account=account_id, amount=4_000)
    too_much = await payout(merchant, connected_account=account_id, amount=before)
    rest = await payout(merchant, connected_account=account_id)
    nothing_left = await payout(merchant, connected_account=account_id)
    nowhere = await payout(merchant, connected_account=f"acct_{uuid.uuid4().hex[:24]}", amount=1)

    assert part.status_code == 201, part.text
    paid = part.json()
    assert (paid["status"], paid["amount"], paid["account_id"]) == ("succeeded", 4_000, account_id)
    assert (too_much.status_code, too_much.json()["code"]) == (422, "insufficient_balance")
    assert too_much.headers["content-type"] == PROBLEM_JSON
    assert (rest.status_code, rest.json()["amount"]) == (201, before - 4_000)
    assert (nothing_left.status_code, nothing_left.json()["code"]) == (422, "below_minimum")
    assert (nowhere.status_code, nowhere.json()["code"]) == (404, "connected_account_not_found")
    assert await available(merchant) == 0
    fetched = await merchant.get(f"/v1/payouts/{paid['payout_id']}")
    assert fetched.json() == paid
    listed = (await merchant.get("/v1/payouts", params={"connected_account": account_id})).json()
    assert [p["payout_id"] for p in listed["data"]] == [rest.json()["payout_id"], paid["payout_id"]]
    payouts = (await gateway.get("/v1/payouts", params={"reference": paid["payout_id"]})).json()
    assert [(p["amount"], p["status"]) for p in payouts["data"]] == [(4_000, "paid")]


async def test_a_retried_payout_is_the_same_payout(merchant, gateway):
    account_id = (await new_account(merchant))["account_id"]
    await pay_in(merchant, 5_000)
    key = uuid.uuid4().hex

    first = await payout(merchant, key=key, connected_account=account_id, amount=1_000)
    retried = await payout(merchant, key=key, connected_account=account_id, amount=1_000)
    other = await payout(merchant, key=key, connected_account=account_id, amount=2_000)

    assert retried.json() == first.json()
    assert retried.headers["Idempotent-Replayed"] == "true"
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_mismatch")
    reference = {"reference": first.json()["payout_id"]}
    assert len((await gateway.get("/v1/transfers", params=reference)).json()["data"]) == 1


async def test_a_payout_the_bank_refuses_gives_the_money_back(merchant):
    account_id = (await new_account(merchant, bank_account="ba_payoutFails"))["account_id"]
    before = await pay_in(merchant, 3_000)

    failed = await payout(merchant, connected_account=account_id)

    assert failed.status_code == 201, failed.text
    assert (failed.json()["status"], failed.json()["failure_code"]) == ("failed", "account_closed")
    assert await available(merchant) == before


async def test_concurrent_payouts_never_overdraw(merchant):
    account_id = (await new_account(merchant))["account_id"]
    before = await pay_in(merchant, 10_000)

    answers = await asyncio.gather(
        *(payout(merchant, connected_account=account_id, amount=1_500) for _ in range(12))
    )

    codes = sorted(a.status_code for a in answers)
    admitted = before // 1_500
    assert codes == [201] * admitted + [422] * (12 - admitted), [a.text for a in answers]
    assert {a.json()["code"] for a in answers if a.status_code == 422} == {"insufficient_balance"}
    assert await available(merchant) == before - admitted * 1_500 >= 0


async def test_a_payout_schedule_is_created_paused_resumed_and_deleted(merchant):
    account_id = (await new_account(merchant))["account_id"]
    url = f"/v1/connected-accounts/{account_id}/payout-schedule"
    plan = {"interval": "weekly", "minimum_amount": 2_500, "currency": "USD"}

    created = await merchant.put(url, json=plan)
    changed = await merchant.put(url, json={**plan, "interval": "daily"})
    paused = await merchant.post(f"{url}/pause", json={"note": "holiday"})
    described = await merchant.get(url)
    resumed = await merchant.post(f"{url}/resume")
    deleted = await merchant.delete(url)
    gone = await merchant.get(url)

    assert created.status_code == 201, created.text
    view = created.json()
    assert (view["interval"], view["minimum_amount"], view["paused"]) == ("weekly", 2_500, False)
    assert "Weekly payout of the available USD balance" in view["note"]
    assert view["next_run_at"] and view["next_run_at"][0].endswith("T00:00:00Z")
    assert view["recent_runs"] == []
    assert (changed.status_code, changed.json()["interval"]) == (200, "daily")
    assert paused.status_code == 200
    assert (described.json()["paused"], described.json()["note"]) == (True, "holiday")
    assert (resumed.json()["paused"], resumed.json()["interval"]) == (False, "daily")
    assert deleted.status_code == 204
    assert (gone.status_code, gone.json()["code"]) == (404, "payout_schedule_not_found")
    bad = await merchant.put(url, json={**plan, "interval": "hourly"})
    assert bad.status_code == 422


async def test_another_tenants_accounts_payouts_and_schedules_are_not_found(merchant, admin, stack):
    account_id = (await new_account(merchant))["account_id"]
    await pay_in(merchant, 2_000)
    paid = (await payout(merchant, connected_account=account_id, amount=1_000)).json()
    schedule = f"/v1/connected-accounts/{account_id}/payout-schedule"
    plan = {"interval": "monthly", "currency": "USD"}
    assert (await merchant.put(schedule, json=plan)).status_code == 201
    missing_account = f"acct_{uuid.uuid4().hex[:24]}"
    try:
        async with tenant_client(stack, admin) as (_, other):
            for method, path, body in [
                ("GET", "/v1/connected-accounts/{acct}", None),
                ("GET", "/v1/connected-accounts/{acct}/payout-schedule", None),
                ("PUT", "/v1/connected-accounts/{acct}/payout-schedule", plan),
                ("POST", "/v1/connected-accounts/{acct}/payout-schedule/pause", None),
                ("POST", "/v1/connected-accounts/{acct}/payout-schedule/resume", None),
                ("DELETE", "/v1/connected-accounts/{acct}/payout-schedule", None),
                ("POST", "/v1/connected-accounts/{acct}/onboarding-link", ONBOARDING_URLS),
                ("POST", "/v1/connected-accounts/{acct}/refresh", None),
            ]:
                foreign = await other.request(method, path.format(acct=account_id), json=body)
                absent = await other.request(method, path.format(acct=missing_account), json=body)
                assert foreign.status_code == absent.status_code == 404, (path, foreign.text)
                assert foreign.json() == absent.json()
            foreign_payout = await other.get(f"/v1/payouts/{paid['payout_id']}")
            absent_payout = await other.get(f"/v1/payouts/po_{uuid.uuid4().hex[:24]}")
            assert foreign_payout.status_code == absent_payout.status_code == 404
            assert foreign_payout.json() == absent_payout.json()
            stolen = await payout(other, connected_account=account_id, amount=1)
            assert (stolen.status_code, stolen.json()["code"]) == (
                404,
                "connected_account_not_found",
            )
            listed = await other.get("/v1/payouts", params={"connected_account": account_id})
            assert listed.json() == {"data": []}
            assert (await other.get("/v1/connected-accounts")).json() == {"data": []}
        # Untouched for its owner.
        own = (await merchant.get(schedule)).json()
        assert (own["paused"], own["interval"]) == (False, "monthly")
        assert (await merchant.get(f"/v1/payouts/{paid['payout_id']}")).json() == paid
    finally:
        assert (await merchant.delete(schedule)).status_code == 204
