"""3-D Secure: requires_action → the customer's challenge → confirm."""

import pytest

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key


def complete(gateway: Gateway, charge_id: str, outcome: str):
    return gateway.http.post(f"/v1/charges/{charge_id}/3ds/complete", json={"outcome": outcome})


@pytest.mark.parametrize(("capture", "status"), [(False, "authorized"), (True, "captured")])
def test_successful_challenge_then_confirm(gateway: Gateway, capture: bool, status: str) -> None:
    charge = gateway.charge("tok_threeDSecureRequired", amount=1500, capture=capture).json()
    page = gateway.http.get(charge["next_action"]["url"])
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "3ds/complete" in page.text

    completed = complete(gateway, charge["id"], "succeed")
    assert completed.status_code == 200
    assert completed.json()["status"] == "requires_action"

    key = new_key()
    confirmed = gateway.action(charge["id"], "confirm", key=key)
    assert confirmed.status_code == 200
    body = confirmed.json()
    assert body["status"] == status
    assert body["amount_authorized"] == 1500
    assert body["amount_captured"] == (1500 if capture else 0)
    assert body["next_action"] is None
    assert gateway.action(charge["id"], "confirm", key=key).json() == body
    assert gateway.stats()["applied_by_key"][key] == 1


def test_failed_challenge_declines(gateway: Gateway) -> None:
    charge = gateway.charge("tok_threeDSecureRequired").json()
    assert complete(gateway, charge["id"], "fail").status_code == 200
    key = new_key()
    response = gateway.action(charge["id"], "confirm", key=key)
    assert response.status_code == 402
    assert response.json()["error"]["type"] == "card_error"
    assert error_code(response) == "authentication_failed"
    assert gateway.get(charge["id"]).json()["status"] == "declined"
    replay = gateway.action(charge["id"], "confirm", key=key)
    assert replay.status_code == 402
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_confirm_before_the_challenge_keeps_waiting(gateway: Gateway) -> None:
    charge = gateway.charge("tok_threeDSecureRequired").json()
    key = new_key()
    waiting = gateway.action(charge["id"], "confirm", key=key)
    assert waiting.status_code == 200
    assert waiting.json()["status"] == "requires_action"
    assert key not in gateway.stats()["applied_by_key"]
    # Not stored: the same key confirms once the customer is done.
    complete(gateway, charge["id"], "succeed")
    confirmed = gateway.action(charge["id"], "confirm", key=key)
    assert "Idempotent-Replayed" not in confirmed.headers
    assert confirmed.json()["status"] == "authorized"


def test_challenge_cannot_change_its_answer(gateway: Gateway) -> None:
    charge = gateway.charge("tok_threeDSecureRequired").json()
    assert complete(gateway, charge["id"], "succeed").status_code == 200
    assert complete(gateway, charge["id"], "succeed").status_code == 200
    response = complete(gateway, charge["id"], "fail")
    assert response.status_code == 409
    assert error_code(response) == "charge_state"


def test_confirm_of_a_charge_without_action_is_a_state_error(gateway: Gateway) -> None:
    charge = gateway.authorized()
    response = gateway.action(charge["id"], "confirm")
    assert response.status_code == 409
    assert error_code(response) == "charge_state"
    assert complete(gateway, charge["id"], "succeed").status_code == 409


def test_challenge_outcome_is_validated(gateway: Gateway) -> None:
    charge = gateway.charge("tok_threeDSecureRequired").json()
    response = complete(gateway, charge["id"], "maybe")
    assert response.status_code == 400
    assert error_code(response) == "parameter_invalid"


def test_the_merchant_may_ask_for_a_challenge_on_any_card(gateway: Gateway) -> None:
    key = new_key()
    charge = gateway.charge("tok_visa", capture=True, three_d_secure=True, key=key).json()
    assert charge["status"] == "requires_action"
    assert charge["next_action"]["url"].endswith(f"/v1/charges/{charge['id']}/3ds")
    # The key is bound to the request as sent: the same body without the flag is another.
    mismatch = gateway.charge("tok_visa", capture=True, key=key)
    assert mismatch.status_code == 422
    assert error_code(mismatch) == "idempotency_mismatch"

    complete(gateway, charge["id"], "succeed")
    confirmed = gateway.action(charge["id"], "confirm").json()
    assert (confirmed["status"], confirmed["amount_captured"]) == ("captured", 1000)


def test_asking_for_a_challenge_does_not_save_a_declined_card(gateway: Gateway) -> None:
    response = gateway.charge("tok_chargeDeclined", three_d_secure=True)
    assert response.status_code == 402
    assert error_code(response) == "card_declined"
