"""Capture, void and refund: amounts and allowed states."""

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import error_code


def test_partial_capture(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=1000)
    captured = gateway.action(charge["id"], "capture", {"amount": 600}).json()
    assert captured["status"] == "captured"
    assert captured["amount_authorized"] == 1000
    assert captured["amount_captured"] == 600


def test_capture_of_null_takes_the_whole_authorization(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=1000)
    captured = gateway.action(charge["id"], "capture", {"amount": None}).json()
    assert captured["amount_captured"] == 1000
    other = gateway.authorized(amount=400)
    assert gateway.action(other["id"], "capture", {}).json()["amount_captured"] == 400


def test_over_capture_is_refused(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=1000)
    response = gateway.action(charge["id"], "capture", {"amount": 1001})
    assert response.status_code == 400
    assert error_code(response) == "amount_too_large"
    assert gateway.get(charge["id"]).json()["status"] == "authorized"


def test_capture_twice_is_a_state_error(gateway: Gateway) -> None:
    charge = gateway.authorized()
    gateway.action(charge["id"], "capture")
    response = gateway.action(charge["id"], "capture")
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert error_code(response) == "charge_state"


def test_capture_of_a_voided_charge_is_refused(gateway: Gateway) -> None:
    charge = gateway.authorized()
    assert gateway.action(charge["id"], "void").json()["status"] == "voided"
    response = gateway.action(charge["id"], "capture")
    assert response.status_code == 409
    assert error_code(response) == "charge_state"


def test_void_is_only_for_uncaptured_charges(gateway: Gateway) -> None:
    captured = gateway.authorized(capture=True)
    response = gateway.action(captured["id"], "void")
    assert response.status_code == 409
    assert error_code(response) == "charge_state"
    pending = gateway.charge("tok_threeDSecureRequired").json()
    assert gateway.action(pending["id"], "void").json()["status"] == "voided"
    again = gateway.action(pending["id"], "void")
    assert again.status_code == 409


def test_refunds_never_exceed_what_was_captured(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=1000)
    gateway.action(charge["id"], "capture", {"amount": 800})

    partial = gateway.action(charge["id"], "refund", {"amount": 300}).json()
    assert (partial["status"], partial["amount_refunded"]) == ("captured", 300)
    too_much = gateway.action(charge["id"], "refund", {"amount": 501})
    assert (too_much.status_code, error_code(too_much)) == (400, "amount_too_large")
    rest = gateway.action(charge["id"], "refund", {"amount": 500}).json()
    assert (rest["status"], rest["amount_refunded"]) == ("refunded", 800)
    after = gateway.action(charge["id"], "refund", {"amount": 1})
    assert (after.status_code, error_code(after)) == (409, "charge_state")
    assert gateway.get(charge["id"]).json()["amount_refunded"] == 800


def test_refund_of_null_refunds_the_rest(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=1000, capture=True)
    gateway.action(charge["id"], "refund", {"amount": 250})
    rest = gateway.action(charge["id"], "refund", {"amount": None}).json()
    assert rest["status"] == "refunded"
    assert rest["amount_refunded"] == 1000


def test_refund_of_an_uncaptured_charge_is_refused(gateway: Gateway) -> None:
    charge = gateway.authorized()
    response = gateway.action(charge["id"], "refund", {"amount": 100})
    assert response.status_code == 409
    assert error_code(response) == "charge_state"


def test_stats_count_operations(gateway: Gateway) -> None:
    before = gateway.stats()["operations"]
    charge = gateway.authorized(amount=300)
    gateway.action(charge["id"], "capture")
    gateway.action(charge["id"], "refund", {"amount": 100})
    after = gateway.stats()["operations"]
    assert after["charge"] == before["charge"] + 1
    assert after["capture"] == before["capture"] + 1
    assert after["refund"] == before["refund"] + 1
    assert after["void"] == before["void"]
