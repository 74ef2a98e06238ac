"""Fees on capture (2.9 % rounded half up + 30, integers only) and charges by reference."""

import sqlite3
from pathlib import Path

import pytest

from tests.support.gateway import start_gateway
from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import new_key


@pytest.mark.parametrize(
    ("captured", "fee"),
    [
        (1999, 88),  # 57.971 → 58, + 30
        (1000, 59),  # 29 + 30
        (500, 45),  # 14.5 → 15 (half up; a float 0.029 * 500 would give 14.4999… → 14)
        (1500, 74),  # 43.5 → 44
        (100, 33),  # 2.9 → 3
        (1, 30),  # 0.029 → 0
        (99_999_999_999, 2_900_000_030),  # 2 899 999 999.971 → 2 900 000 000
    ],
)
def test_authorize_and_capture_records_the_fee(gateway: Gateway, captured: int, fee: int) -> None:
    charge = gateway.captured(captured)
    assert charge["status"] == "captured"
    assert charge["fee"] == fee
    assert gateway.get(charge["id"]).json()["fee"] == fee


def test_fee_is_zero_until_captured_then_on_the_captured_amount(gateway: Gateway) -> None:
    charge = gateway.authorized(amount=1000)
    assert charge["fee"] == 0
    captured = gateway.action(charge["id"], "capture", {"amount": 600}).json()
    assert (captured["amount_captured"], captured["fee"]) == (600, 47)  # 17.4 → 17, + 30
    refunded = gateway.action(charge["id"], "refund", {"amount": 600}).json()
    assert (refunded["status"], refunded["fee"]) == ("refunded", 47)  # a refund keeps the fee


def test_refused_capture_and_voids_take_no_fee(gateway: Gateway) -> None:
    refused = gateway.charge("tok_captureFails", amount=900, capture=True).json()
    assert (refused["status"], refused["fee"]) == ("authorized", 0)
    voided = gateway.action(refused["id"], "void").json()
    assert (voided["status"], voided["fee"]) == ("voided", 0)


def test_three_d_secure_capture_on_confirm_takes_the_fee(gateway: Gateway) -> None:
    charge = gateway.charge("tok_threeDSecureRequired", amount=1999, capture=True).json()
    assert charge["fee"] == 0
    gateway.http.post(f"/v1/charges/{charge['id']}/3ds/complete", json={"outcome": "succeed"})
    confirmed = gateway.action(charge["id"], "confirm").json()
    assert (confirmed["status"], confirmed["fee"]) == ("captured", 88)


def test_charges_by_reference_newest_first(gateway: Gateway) -> None:
    reference = new_key("pay")
    first = gateway.charge(reference=reference, amount=100).json()
    declined = gateway.charge("tok_chargeDeclined", reference=reference, amount=200)
    assert declined.status_code == 402
    second = gateway.charge(reference=reference, amount=300, capture=True).json()
    gateway.charge(reference=new_key("pay"))  # another payment's

    listed = gateway.http.get("/v1/charges", params={"reference": reference}).json()
    assert listed["has_more"] is False
    ids = [charge["id"] for charge in listed["data"]]
    assert ids == [second["id"], declined.json()["error"]["charge"], first["id"]]
    assert listed["data"][0] == gateway.get(second["id"]).json()
    assert [c["status"] for c in listed["data"]] == ["captured", "declined", "authorized"]

    limited = gateway.http.get("/v1/charges", params={"reference": reference, "limit": 2}).json()
    assert [c["id"] for c in limited["data"]] == ids[:2]
    assert limited["has_more"] is True

    none = gateway.http.get("/v1/charges", params={"reference": new_key("pay")}).json()
    assert none == {"object": "list", "data": [], "has_more": False}


def test_a_file_of_an_older_version_gets_the_fee_column(db_path: Path) -> None:
    """The charges table as it was before fees: the gateway adds the column and carries on."""
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "CREATE TABLE charges (id TEXT PRIMARY KEY, status TEXT NOT NULL, amount INTEGER "
            "NOT NULL, currency TEXT NOT NULL, reference TEXT NOT NULL, customer_id TEXT, "
            "payment_method TEXT NOT NULL, capture_requested INTEGER NOT NULL, "
            "amount_authorized INTEGER NOT NULL DEFAULT 0, amount_captured INTEGER NOT NULL "
            "DEFAULT 0, amount_refunded INTEGER NOT NULL DEFAULT 0, challenge TEXT, "
            "next_action_url TEXT, capture_error TEXT, failure TEXT, created TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO charges VALUES ('ch_old', 'captured', 500, 'USD', 'pay_old', NULL, "
            "'tok_visa', 1, 500, 500, 0, NULL, NULL, NULL, NULL, '2025-01-01T00:00:00.000Z')"
        )
    with start_gateway(db_path) as url:
        gateway = Gateway(url)
        try:
            old = gateway.get("ch_old").json()
            assert (old["status"], old["amount_captured"], old["fee"]) == ("captured", 500, 0)
            assert gateway.refund("ch_old", 200).json()["status"] == "succeeded"
            assert gateway.captured(1999)["fee"] == 88
        finally:
            gateway.close()
