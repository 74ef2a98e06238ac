"""Each test token's behaviour, and what the gateway refuses to accept."""

import pytest

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import created
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key

SUCCEEDING = ["tok_visa", "tok_mastercard", "tok_amex", "tok_visa_debit"]


@pytest.mark.parametrize("token", SUCCEEDING)
def test_succeeding_tokens_authorize(gateway: Gateway, token: str) -> None:
    charge = created(gateway.charge(token, amount=2500, reference="pay_tok"), "ch_")
    assert charge["status"] == "authorized"
    assert charge["amount"] == charge["amount_authorized"] == 2500
    assert charge["amount_captured"] == charge["amount_refunded"] == 0
    assert charge["currency"] == "USD"
    assert charge["reference"] == "pay_tok"
    assert charge["next_action"] is None
    assert charge["created"].endswith("Z")
    assert gateway.get(charge["id"]).json() == charge


@pytest.mark.parametrize("token", SUCCEEDING)
def test_succeeding_tokens_capture_in_one_call(gateway: Gateway, token: str) -> None:
    charge = gateway.charge(token, amount=700, capture=True).json()
    assert charge["status"] == "captured"
    assert charge["amount_authorized"] == charge["amount_captured"] == 700


@pytest.mark.parametrize(
    ("token", "code", "decline_code"),
    [
        ("tok_chargeDeclined", "card_declined", "generic_decline"),
        ("tok_insufficientFunds", "card_declined", "insufficient_funds"),
        ("tok_expiredCard", "expired_card", "expired_card"),
        ("tok_processingError", "processing_error", None),
    ],
)
def test_declining_tokens_answer_402_and_are_recorded(
    gateway: Gateway, token: str, code: str, decline_code: str | None
) -> None:
    key, reference = new_key(), new_key("pay")
    response = gateway.charge(token, key=key, reference=reference)
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "card_error"
    assert error["code"] == code
    assert error.get("decline_code") == decline_code
    assert error["message"]

    stored = gateway.get(error["charge"]).json()
    assert stored["status"] == "declined"
    assert stored["failure"]["code"] == code

    replay = gateway.charge(token, key=key, reference=reference)
    assert replay.status_code == 402
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == response.json()
    stats = gateway.stats()
    assert stats["charges_by_reference"][reference] == 1
    assert stats["applied_by_key"][key] == 1


def test_three_d_secure_token_requires_action(gateway: Gateway) -> None:
    charge = gateway.charge("tok_threeDSecureRequired").json()
    assert charge["status"] == "requires_action"
    assert charge["amount_authorized"] == 0
    assert charge["next_action"] == {
        "type": "redirect_to_url",
        "url": f"{gateway.base_url}/v1/charges/{charge['id']}/3ds",
    }


def test_capture_fails_token_authorizes_but_never_captures(gateway: Gateway) -> None:
    charge = gateway.charge("tok_captureFails", amount=900).json()
    assert charge["status"] == "authorized"
    assert charge["capture_error"] is None

    refused = gateway.action(charge["id"], "capture", {"amount": None})
    assert refused.status_code == 402
    assert error_code(refused) == "capture_failed"
    after = gateway.get(charge["id"]).json()
    assert after["status"] == "authorized"
    assert after["amount_captured"] == 0
    assert after["capture_error"]["code"] == "capture_failed"


def test_capture_fails_token_with_automatic_capture_keeps_the_hold(gateway: Gateway) -> None:
    response = gateway.charge("tok_captureFails", amount=900, capture=True)
    assert response.status_code == 200
    charge = response.json()
    assert charge["status"] == "authorized"
    assert charge["amount_authorized"] == 900
    assert charge["amount_captured"] == 0
    assert charge["capture_error"]["code"] == "capture_failed"
    # The hold exists and can be released.
    assert gateway.action(charge["id"], "void").json()["status"] == "voided"


@pytest.mark.parametrize("token", ["tok_unknown", "pm_1234abcd", "tok_visa_gold"])
def test_unknown_token_is_not_found(gateway: Gateway, token: str) -> None:
    response = gateway.charge(token)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "token_not_found",
        "message": response.json()["error"]["message"],
    }


@pytest.mark.parametrize("value", ["4242424242424242", "4242 4242 4242 4242", "card_visa", ""])
def test_anything_but_a_token_is_refused_and_not_echoed(gateway: Gateway, value: str) -> None:
    response = gateway.charge(value)
    assert response.status_code == 400
    assert error_code(response) in ("invalid_payment_method", "parameter_invalid")
    assert "4242" not in response.text


def test_money_moving_post_requires_an_idempotency_key(gateway: Gateway) -> None:
    body = {"amount": 100, "currency": "USD", "payment_method": "tok_visa", "reference": "p"}
    response = gateway.post("/v1/charges", {**body, "capture": False})
    assert response.status_code == 400
    assert error_code(response) == "idempotency_key_required"
    charge = gateway.authorized()
    for action in ("capture", "void", "refund", "confirm"):
        response = gateway.post(f"/v1/charges/{charge['id']}/{action}", {})
        assert response.status_code == 400, action
        assert error_code(response) == "idempotency_key_required"


VALID_BODY = {
    "amount": 100,
    "currency": "USD",
    "payment_method": "tok_visa",
    "capture": False,
    "reference": "pay_x",
}


@pytest.mark.parametrize(
    "override",
    [
        {"amount": 0},
        {"amount": -5},
        {"amount": "100"},
        {"amount": 1.5},
        {"currency": "XYZ"},
        {"capture": "yes"},
        {"unexpected": 1},
    ],
)
def test_invalid_bodies_are_400(gateway: Gateway, override: dict) -> None:
    response = gateway.post("/v1/charges", {**VALID_BODY, **override}, key=new_key())
    assert response.status_code == 400
    assert error_code(response) == "parameter_invalid"


def test_missing_field_is_400(gateway: Gateway) -> None:
    body = {k: v for k, v in VALID_BODY.items() if k != "reference"}
    response = gateway.post("/v1/charges", body, key=new_key())
    assert response.status_code == 400
    assert error_code(response) == "parameter_invalid"


def test_currency_is_upper_cased(gateway: Gateway) -> None:
    response = gateway.post(
        "/v1/charges",
        {**VALID_BODY, "currency": "eur"},
        key=new_key(),
    )
    assert response.json()["currency"] == "EUR"


def test_unknown_charge_is_404(gateway: Gateway) -> None:
    response = gateway.get("ch_doesnotexist")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert error_code(response) == "resource_missing"
    assert error_code(gateway.action("ch_doesnotexist", "capture")) == "resource_missing"


def test_healthz(gateway: Gateway) -> None:
    assert gateway.http.get("/healthz").json() == {"status": "ok"}
