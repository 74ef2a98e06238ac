"""Transfers to connected accounts, their reversals, and payouts to bank accounts.

Exact balances need a gateway of their own (``fresh_gateway``); the rest uses fresh accounts
on the shared one.
"""

import httpx
import pytest

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import created
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_account
from tests.workers.sandbox_gateway.conftest import new_key


def test_transfer_is_limited_by_the_platform_balance(fresh_gateway: Gateway) -> None:
    gateway, account = fresh_gateway, new_account()
    assert gateway.available() == {}
    charge = gateway.captured(1999)  # + 1999 - 88 fee
    assert gateway.refund(charge["id"], 500).status_code == 200  # - 500
    assert gateway.available() == {"USD": 1411}

    key, reference = new_key(), new_key("po")
    refused = gateway.transfer(1412, account, reference=reference, key=key)
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert error_code(refused) == "balance_insufficient"
    assert gateway.http.get("/v1/transfers", params={"reference": reference}).json()["data"] == []
    assert key not in gateway.stats()["applied_by_key"]
    assert gateway.transfer(1, account, currency="EUR").status_code == 402  # no EUR at all

    transfer = created(gateway.transfer(1411, account, reference=reference, key=key), "tr_")
    assert transfer == {
        "id": transfer["id"],
        "object": "transfer",
        "amount": 1411,
        "currency": "USD",
        "destination": account,
        "reference": reference,
        "status": "paid",
        "amount_reversed": 0,
        "reversals": [],
        "created": transfer["created"],
    }
    assert gateway.available() == {"USD": 0}
    assert gateway.available(account) == {"USD": 1411}
    assert gateway.transfer(1, account).status_code == 402
    assert gateway.http.get(f"/v1/transfers/{transfer['id']}").json() == transfer
    listed = gateway.http.get("/v1/transfers", params={"reference": reference}).json()
    assert listed["data"] == [transfer]


def test_reversals_take_back_at_most_what_is_left(fresh_gateway: Gateway) -> None:
    gateway, account = fresh_gateway, new_account()
    gateway.captured(5000)  # 5000 - 175 fee = 4825
    transfer = gateway.transfer(1000, account).json()
    assert gateway.available() == {"USD": 3825}

    partial = gateway.reverse(transfer["id"], 300).json()
    assert (partial["status"], partial["amount_reversed"]) == ("paid", 300)
    assert [r["amount"] for r in partial["reversals"]] == [300]
    assert partial["reversals"][0]["id"].startswith("trr_")
    assert gateway.available() == {"USD": 4125}
    assert gateway.available(account) == {"USD": 700}

    too_much = gateway.reverse(transfer["id"], 701)
    assert (too_much.status_code, error_code(too_much)) == (400, "amount_too_large")

    rest = gateway.reverse(transfer["id"]).json()  # amount null: all that is left
    assert (rest["status"], rest["amount_reversed"]) == ("reversed", 1000)
    assert [r["amount"] for r in rest["reversals"]] == [300, 700]
    assert gateway.available() == {"USD": 4825}
    assert gateway.available(account) == {"USD": 0}

    again = gateway.reverse(transfer["id"], 1)
    assert (again.status_code, error_code(again)) == (409, "transfer_state")
    missing = gateway.reverse("tr_doesnotexist", 1)
    assert (missing.status_code, error_code(missing)) == (404, "resource_missing")


def test_payouts_paid_failed_and_refused_over_the_destination_balance(
    gateway: Gateway,
) -> None:
    account = new_account()
    gateway.captured(5000)
    assert gateway.transfer(1000, account).status_code == 200

    reference = new_key("po")
    payout = created(gateway.payout(600, account, "ba_ok", reference=reference), "pout_")
    assert payout == {
        "id": payout["id"],
        "object": "payout",
        "amount": 600,
        "currency": "USD",
        "destination": account,
        "bank_account": "ba_ok",
        "reference": reference,
        "status": "paid",
        "failure_code": None,
        "failure_message": None,
        "created": payout["created"],
        "method": "standard",
        "arrival_date": payout["arrival_date"],
    }
    assert payout["arrival_date"] > payout["created"]  # a standard payout takes days
    assert gateway.available(account) == {"USD": 400}
    listed = gateway.http.get("/v1/payouts", params={"reference": reference}).json()
    assert listed["data"] == [payout]
    assert gateway.http.get(f"/v1/payouts/{payout['id']}").json() == payout

    key = new_key()
    refused = gateway.payout(401, account, key=key)
    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert error_code(refused) == "balance_insufficient"
    assert key not in gateway.stats()["applied_by_key"]
    other_account = gateway.payout(1, new_account())
    assert error_code(other_account) == "balance_insufficient"  # balances are per account

    failed = gateway.payout(400, account, "ba_payoutFails")
    assert failed.status_code == 200
    assert failed.json()["status"] == "failed"
    assert failed.json()["failure_code"] == "account_closed"
    assert gateway.available(account) == {"USD": 400}  # a failed payout moves nothing

    other_token = gateway.payout(400, account, "ba_savings_42")
    assert other_token.json()["status"] == "paid"
    assert gateway.available(account) == {"USD": 0}


@pytest.mark.parametrize(
    "bank_account",
    ["DE89370400440532013000", "000123456789", "ba_", "ba_has space", "ba_ok\n", "tok_visa", ""],
)
def test_anything_but_a_bank_token_is_refused_and_not_echoed(
    gateway: Gateway, bank_account: str
) -> None:
    account = new_account()
    gateway.captured(2000)
    gateway.transfer(1000, account)
    response = gateway.payout(100, account, bank_account)
    assert response.status_code == 400
    assert response.json() == {  # the same words whatever the value: nothing echoed
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_bank_account",
            "message": "bank_account must be a ba_ token",
        }
    }
    assert gateway.available(account) == {"USD": 1000}


def test_a_bank_account_that_is_not_a_string_is_refused_without_echo(gateway: Gateway) -> None:
    body = {
        "amount": 100,
        "currency": "USD",
        "destination": new_account(),
        "bank_account": 370400440532013000,
        "reference": "po_x",
    }
    response = gateway.post("/v1/payouts", body, key=new_key())
    assert (response.status_code, error_code(response)) == (400, "parameter_invalid")
    assert "370400440532013000" not in response.text


def test_destination_must_be_a_connected_account(gateway: Gateway) -> None:
    for destination in ("ba_ok", "acct_", "acct_x y", "x" * 300):
        response = gateway.transfer(1, destination)
        assert (response.status_code, error_code(response)) == (400, "parameter_invalid")


def test_timeout_after_a_transfer_then_the_retry_replays(gateway: Gateway) -> None:
    account, reference, key = new_account(), new_key("po"), new_key()
    gateway.captured(3000)
    gateway.set_faults(timeout_next=1, hang_ms=20_000, operations=["transfer"])
    body = {"amount": 700, "currency": "USD", "destination": account, "reference": reference}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{gateway.base_url}/v1/transfers",
            json=body,
            headers={"Idempotency-Key": key},
            timeout=0.5,
        )
    # Applied although the client saw a timeout.
    assert gateway.stats()["applied_by_key"][key] == 1
    assert gateway.available(account) == {"USD": 700}

    retry = gateway.post("/v1/transfers", body, key=key)
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["amount"] == 700
    assert gateway.stats()["applied_by_key"][key] == 1
    listed = gateway.http.get("/v1/transfers", params={"reference": reference}).json()["data"]
    assert [t["id"] for t in listed] == [retry.json()["id"]]
    assert gateway.available(account) == {"USD": 700}


def test_faults_and_stats_cover_the_new_operations(gateway: Gateway) -> None:
    account = new_account()
    gateway.captured(3000)
    before = gateway.stats()["operations"]
    gateway.set_faults(error_rate=1.0, operations=["payout", "transfer_reversal"])
    transfer = gateway.transfer(500, account)
    assert transfer.status_code == 200  # "transfer" does not match
    assert gateway.reverse(transfer.json()["id"], 100).status_code == 503
    assert gateway.payout(100, account).status_code == 503
    gateway.http.delete("/v1/faults")
    assert gateway.reverse(transfer.json()["id"], 100).status_code == 200
    assert gateway.payout(100, account).status_code == 200
    after = gateway.stats()["operations"]
    assert after["transfer"] == before["transfer"] + 1
    assert after["transfer_reversal"] == before["transfer_reversal"] + 1
    assert after["payout"] == before["payout"] + 1


def test_money_moving_posts_need_a_key(gateway: Gateway) -> None:
    body = {"amount": 1, "currency": "USD", "destination": new_account(), "reference": "po_x"}
    for url, sent in (
        ("/v1/transfers", body),
        ("/v1/transfers/tr_x/reversals", {"amount": 1}),
        ("/v1/payouts", {**body, "bank_account": "ba_ok"}),
    ):
        response = gateway.post(url, sent)
        assert (response.status_code, error_code(response)) == (400, "idempotency_key_required")
