"""The test helpers that fail a refund or payout after it succeeded: the money goes back
where it came from as a balance transaction of its own, and nothing fails twice. (With no
webhook endpoint configured, as here, no event is sent.)"""

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import created
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_account
from tests.workers.sandbox_gateway.conftest import new_key


def test_a_refund_failed_late_gives_the_money_back(fresh_gateway: Gateway) -> None:
    gateway = fresh_gateway
    charge = gateway.captured(1000)
    refund = created(gateway.refund(charge["id"], 1000, reference=new_key("re")), "rf_")
    assert gateway.get(charge["id"]).json()["status"] == "refunded"
    before = gateway.available()["USD"]

    failed = gateway.post(
        f"/v1/test_helpers/refunds/{refund['id']}/fail", {"failure_code": "lost_or_stolen_card"}
    )

    assert failed.status_code == 200, failed.text
    assert failed.json()["event"] is None and failed.json()["delivered"] is None
    shown = gateway.http.get(f"/v1/refunds/{refund['id']}").json()
    assert (shown["status"], shown["failure_code"]) == ("failed", "lost_or_stolen_card")
    assert failed.json()["object"] == shown
    back = gateway.get(charge["id"]).json()
    assert (back["status"], back["amount_refunded"]) == ("captured", 0)
    assert gateway.available()["USD"] == before + 1000
    last = gateway.transactions()["data"][-1]
    assert (last["type"], last["amount"], last["source"]) == ("refund_failure", 1000, refund["id"])

    again = gateway.post(f"/v1/test_helpers/refunds/{refund['id']}/fail", {})
    assert (again.status_code, error_code(again)) == (400, "refund_not_succeeded")
    unknown = gateway.post("/v1/test_helpers/refunds/rf_nope/fail", {})
    assert (unknown.status_code, error_code(unknown)) == (404, "resource_missing")
    assert gateway.available()["USD"] == before + 1000


def test_a_payout_returned_late_is_back_on_the_connected_account(gateway: Gateway) -> None:
    account = new_account()
    gateway.captured(5000)
    assert gateway.transfer(1000, account).status_code == 200
    payout = created(gateway.payout(600, account, "ba_ok"), "pout_")
    assert gateway.available(account)["USD"] == 400

    bad_code = gateway.post(
        f"/v1/test_helpers/payouts/{payout['id']}/fail", {"failure_code": "made_up"}
    )
    assert (bad_code.status_code, error_code(bad_code)) == (400, "invalid_failure_code")
    returned = gateway.post(f"/v1/test_helpers/payouts/{payout['id']}/fail", {})

    assert returned.status_code == 200, returned.text
    shown = returned.json()["object"]
    assert (shown["status"], shown["failure_code"]) == ("failed", "account_closed")
    assert gateway.available(account)["USD"] == 1000
    again = gateway.post(f"/v1/test_helpers/payouts/{payout['id']}/fail", {})
    assert (again.status_code, error_code(again)) == (400, "payout_not_paid")
