"""Customers and saved methods, as Stripe keeps them: a token saved for a customer is a
method of its own, charged (off-session too) for that customer only until it is detached;
off-session, a card that needs 3-D Secure is declined ``authentication_required``."""

import pytest

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import created
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key


def new_customer(gateway: Gateway, *, key: str | None = None) -> dict:
    body = {"reference": new_key("cust")}
    return created(gateway.post("/v1/customers", body, key=key or new_key()), "cus_")


def attach(gateway: Gateway, customer: dict, token: str, *, key: str | None = None):
    path = f"/v1/customers/{customer['id']}/payment_methods"
    return gateway.post(path, {"payment_method": token}, key=key or new_key())


def saved(gateway: Gateway, card: str = "tok_visa") -> tuple[dict, dict]:
    customer = new_customer(gateway)
    return customer, created(attach(gateway, customer, card), "pm_")


def off_session(gateway: Gateway, customer: dict | None, method: str, **fields):
    owner = {"customer": customer["id"]} if customer else {}
    return gateway.charge(method, capture=True, off_session=True, **owner, **fields)


def test_a_customer_is_made_once_per_key(gateway: Gateway) -> None:
    key = new_key()
    first = new_customer(gateway, key=key)
    again = gateway.post("/v1/customers", {"reference": first["reference"]}, key=key)
    assert again.json() == first
    assert again.headers["Idempotent-Replayed"] == "true"
    assert gateway.http.get(f"/v1/customers/{first['id']}").json() == first
    other = gateway.post("/v1/customers", {"reference": "someone else"}, key=key)
    assert (other.status_code, error_code(other)) == (422, "idempotency_mismatch")


def test_a_saved_token_is_a_method_of_the_customer_with_its_card(gateway: Gateway) -> None:
    customer, method = saved(gateway, "tok_mastercard")
    assert method["customer"] == customer["id"]
    card = method["card"]
    assert (card["brand"], card["last4"], card["exp_month"], card["exp_year"]) == (
        "mastercard",
        "4444",
        12,
        2034,
    )
    # The same card saved again has the same fingerprint; another card has another.
    _, again = saved(gateway, "tok_mastercard")
    _, visa = saved(gateway, "tok_visa")
    assert again["id"] != method["id"]
    assert again["card"]["fingerprint"] == card["fingerprint"] != visa["card"]["fingerprint"]
    listed = gateway.http.get(f"/v1/customers/{customer['id']}/payment_methods").json()
    assert [m["id"] for m in listed["data"]] == [method["id"]]


def test_saving_is_applied_once_per_key(gateway: Gateway) -> None:
    customer = new_customer(gateway)
    key = new_key()
    first = attach(gateway, customer, "tok_visa", key=key).json()
    assert attach(gateway, customer, "tok_visa", key=key).json() == first
    listed = gateway.http.get(f"/v1/customers/{customer['id']}/payment_methods").json()
    assert len(listed["data"]) == 1
    assert gateway.stats()["applied_by_key"][key] == 1


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("tok_nonexistent", 400, "token_not_found"),
        ("4242424242424242", 400, "invalid_payment_method"),
        ("tok_chargeDeclined", 402, "card_declined"),
        ("tok_expiredCard", 402, "expired_card"),
    ],
)
def test_a_token_a_charge_would_refuse_is_not_saved(gateway, token, status, code) -> None:
    customer = new_customer(gateway)
    refused = attach(gateway, customer, token)
    assert (refused.status_code, error_code(refused)) == (status, code)
    assert token not in refused.text
    listed = gateway.http.get(f"/v1/customers/{customer['id']}/payment_methods").json()
    assert listed["data"] == []


def test_saving_for_an_unknown_customer_is_a_404(gateway: Gateway) -> None:
    refused = attach(gateway, {"id": "cus_nobody"}, "tok_visa")
    assert (refused.status_code, error_code(refused)) == (404, "resource_missing")


def test_a_card_that_saves_but_declines_every_charge(gateway: Gateway) -> None:
    customer, method = saved(gateway, "tok_chargeCustomerFail")
    declined = off_session(gateway, customer, method["id"])
    assert (declined.status_code, error_code(declined)) == (402, "card_declined")


def test_a_saved_method_is_charged_off_session_for_its_customer(gateway: Gateway) -> None:
    customer, method = saved(gateway)
    charge = off_session(gateway, customer, method["id"], amount=1200)
    assert charge.status_code == 200, charge.text
    body = charge.json()
    assert (body["status"], body["amount_captured"]) == ("captured", 1200)
    assert (body["customer"], body["payment_method"], body["off_session"]) == (
        customer["id"],
        method["id"],
        True,
    )
    assert gateway.get(body["id"]).json() == body


def test_another_customers_method_is_refused(gateway: Gateway) -> None:
    _, method = saved(gateway)
    stranger = new_customer(gateway)
    refused = off_session(gateway, stranger, method["id"])
    assert (refused.status_code, error_code(refused)) == (400, "payment_method_customer_mismatch")
    assert "belongs to another Customer" in refused.json()["error"]["message"]
    without = gateway.charge(method["id"], capture=True)
    assert (without.status_code, error_code(without)) == (400, "payment_method_customer_mismatch")


def test_a_bare_token_is_never_charged_off_session(gateway: Gateway) -> None:
    customer = new_customer(gateway)
    refused = off_session(gateway, customer, "tok_visa")
    assert (refused.status_code, error_code(refused)) == (400, "payment_method_not_reusable")
    assert "attach it to a Customer first" in refused.json()["error"]["message"]
    # On-session, a token is charged as it always was, the customer named.
    on_session = gateway.charge("tok_visa", capture=True, customer=customer["id"])
    assert on_session.json()["customer"] == customer["id"]


def test_an_unknown_customer_is_a_404(gateway: Gateway) -> None:
    refused = gateway.charge("tok_visa", customer="cus_nobody")
    assert (refused.status_code, error_code(refused)) == (404, "resource_missing")


def test_a_detached_method_is_never_charged_again(gateway: Gateway) -> None:
    customer, method = saved(gateway)
    key = new_key()
    detached = gateway.post(f"/v1/payment_methods/{method['id']}/detach", {}, key=key)
    assert detached.status_code == 200, detached.text
    assert (detached.json()["status"], detached.json()["customer"]) == ("detached", None)
    replay = gateway.post(f"/v1/payment_methods/{method['id']}/detach", {}, key=key)
    assert replay.json() == detached.json()
    again = gateway.post(f"/v1/payment_methods/{method['id']}/detach", {}, key=new_key())
    assert (again.status_code, error_code(again)) == (400, "payment_method_unexpected_state")

    refused = off_session(gateway, customer, method["id"])
    assert (refused.status_code, error_code(refused)) == (400, "payment_method_not_reusable")
    listed = gateway.http.get(f"/v1/customers/{customer['id']}/payment_methods").json()
    assert listed["data"] == []


def test_the_default_method_is_one_of_the_customers(gateway: Gateway) -> None:
    customer, method = saved(gateway)
    path = f"/v1/customers/{customer['id']}"
    made = gateway.http.post(path, json={"default_payment_method": method["id"]})
    assert made.json()["default_payment_method"] == method["id"]
    assert gateway.http.get(path).json()["default_payment_method"] == method["id"]
    _, foreign = saved(gateway)
    refused = gateway.http.post(path, json={"default_payment_method": foreign["id"]})
    assert (refused.status_code, error_code(refused)) == (400, "resource_missing")
    gateway.post(f"/v1/payment_methods/{method['id']}/detach", {}, key=new_key())
    assert gateway.http.get(path).json()["default_payment_method"] is None


def test_off_session_a_card_that_needs_3ds_is_declined_without_a_challenge(
    gateway: Gateway,
) -> None:
    customer, method = saved(gateway, "tok_threeDSecureRequired")
    key = new_key()
    declined = gateway.post(
        "/v1/charges",
        {
            "amount": 1200,
            "currency": "USD",
            "payment_method": method["id"],
            "capture": True,
            "reference": new_key("pay"),
            "customer": customer["id"],
            "off_session": True,
        },
        key=key,
    )
    assert declined.status_code == 402, declined.text
    error = declined.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "authentication_required",
        "authentication_required",
    )
    charge = gateway.get(error["charge"]).json()
    assert (charge["status"], charge["next_action"]) == ("declined", None)
    assert charge["failure"]["code"] == "authentication_required"
    assert gateway.stats()["applied_by_key"][key] == 1
    # On-session, the same saved card is challenged as its token always was.
    on_session = gateway.charge(method["id"], customer=customer["id"]).json()
    assert on_session["status"] == "requires_action"
