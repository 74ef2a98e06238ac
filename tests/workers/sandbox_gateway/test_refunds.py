"""Refund objects: partial refunds by reference, failures, idempotency, the older route."""

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import created
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key


def refunds_of(gateway: Gateway, **params: str) -> list[dict]:
    response = gateway.http.get("/v1/refunds", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_partial_refunds_are_objects_found_by_reference(gateway: Gateway) -> None:
    charge = gateway.captured(1000)
    first_ref, second_ref = new_key("re"), new_key("re")

    refund = created(gateway.refund(charge["id"], 300, reference=first_ref), "rf_")
    assert refund == {
        "id": refund["id"],
        "object": "refund",
        "charge": charge["id"],
        "amount": 300,
        "currency": "USD",
        "status": "succeeded",
        "reference": first_ref,
        "failure_code": None,
        "failure_message": None,
        "created": refund["created"],
    }
    after_first = gateway.get(charge["id"]).json()
    assert (after_first["status"], after_first["amount_refunded"]) == ("captured", 300)

    second = gateway.refund(charge["id"], 200, reference=second_ref).json()
    assert refunds_of(gateway, reference=first_ref) == [refund]
    assert refunds_of(gateway, reference=second_ref) == [second]
    assert gateway.http.get(f"/v1/refunds/{refund['id']}").json() == refund

    rest = gateway.refund(charge["id"]).json()  # amount null: the rest
    assert (rest["amount"], rest["reference"]) == (500, None)
    final = gateway.get(charge["id"]).json()
    assert (final["status"], final["amount_refunded"]) == ("refunded", 1000)
    assert [r["id"] for r in refunds_of(gateway, charge=charge["id"])] == [
        rest["id"],
        second["id"],
        refund["id"],
    ]


def test_over_refund_is_400_and_changes_nothing(gateway: Gateway) -> None:
    charge = gateway.captured(1000)
    assert gateway.refund(charge["id"], 400).status_code == 200
    key = new_key()
    too_much = gateway.refund(charge["id"], 601, reference=new_key("re"), key=key)
    assert too_much.status_code == 400
    assert error_code(too_much) == "amount_too_large"
    assert gateway.get(charge["id"]).json()["amount_refunded"] == 400
    assert len(refunds_of(gateway, charge=charge["id"])) == 1
    assert key not in gateway.stats()["applied_by_key"]


def test_refund_failing_token_ends_failed_and_refunds_nothing(gateway: Gateway) -> None:
    charge = gateway.charge("tok_refundFails", amount=1200, capture=True).json()
    assert (charge["status"], charge["amount_captured"], charge["fee"]) == ("captured", 1200, 65)
    reference = new_key("re")
    response = gateway.refund(charge["id"], 500, reference=reference)
    assert response.status_code == 200
    refund = response.json()
    assert refund["status"] == "failed"
    assert refund["failure_code"] == "expired_or_canceled_card"
    assert refund["failure_message"]
    assert refund["amount"] == 500
    assert refunds_of(gateway, reference=reference) == [refund]

    after = gateway.get(charge["id"]).json()
    assert (after["status"], after["amount_refunded"]) == ("captured", 0)
    since = gateway.transactions(created_gte=charge["created"], limit=1000)["data"]
    sources = [t["source"] for t in since]
    assert charge["id"] in sources
    assert refund["id"] not in sources  # nothing moved

    # Through the older route, which answers a charge, the failure is a 402.
    older = gateway.action(charge["id"], "refund", {"amount": 100})
    assert older.status_code == 402
    error = older.json()["error"]
    assert (error["type"], error["code"], error["charge"]) == (
        "card_error",
        "expired_or_canceled_card",
        charge["id"],
    )
    assert gateway.http.get(f"/v1/refunds/{error['refund']}").json()["status"] == "failed"
    assert gateway.get(charge["id"]).json()["amount_refunded"] == 0


def test_same_key_twice_refunds_once(gateway: Gateway) -> None:
    charge = gateway.captured(1000)
    key, reference = new_key(), new_key("re")
    first = gateway.refund(charge["id"], 250, reference=reference, key=key)
    again = gateway.refund(charge["id"], 250, reference=reference, key=key)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    stats = gateway.stats()
    assert stats["applied_by_key"][key] == 1
    assert stats["replays_by_key"][key] == 1
    assert len(refunds_of(gateway, reference=reference)) == 1
    assert gateway.get(charge["id"]).json()["amount_refunded"] == 250

    other_body = gateway.refund(charge["id"], 300, reference=reference, key=key)
    assert other_body.status_code == 422
    assert error_code(other_body) == "idempotency_mismatch"


def test_older_route_also_stores_a_refund(gateway: Gateway) -> None:
    charge = gateway.captured(800)
    before = gateway.stats()["operations"]["refund"]
    answered = gateway.action(charge["id"], "refund", {"amount": 300}).json()
    assert (answered["id"], answered["amount_refunded"]) == (charge["id"], 300)
    (refund,) = refunds_of(gateway, charge=charge["id"])
    assert (refund["amount"], refund["status"], refund["reference"]) == (300, "succeeded", None)
    assert gateway.stats()["operations"]["refund"] == before + 1


def test_refund_refusals(gateway: Gateway) -> None:
    uncaptured = gateway.authorized()
    wrong_state = gateway.refund(uncaptured["id"], 100)
    assert (wrong_state.status_code, error_code(wrong_state)) == (409, "charge_state")
    missing = gateway.refund("ch_doesnotexist", 100)
    assert (missing.status_code, error_code(missing)) == (404, "resource_missing")
    no_key = gateway.post("/v1/refunds", {"charge": uncaptured["id"]})
    assert (no_key.status_code, error_code(no_key)) == (400, "idempotency_key_required")
    for bad in ({"charge": uncaptured["id"], "amount": 0}, {"amount": 5}, {"charge": "x", "y": 1}):
        response = gateway.post("/v1/refunds", bad, key=new_key())
        assert (response.status_code, error_code(response)) == (400, "parameter_invalid"), bad
    unknown = gateway.http.get("/v1/refunds/rf_doesnotexist")
    assert (unknown.status_code, error_code(unknown)) == (404, "resource_missing")
