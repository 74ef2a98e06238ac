"""The balance transaction list: one row per movement, date filters, pagination."""

import time
from datetime import datetime
from datetime import timedelta
from datetime import timezone

from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_account
from tests.workers.sandbox_gateway.conftest import new_key


def all_pages(gateway: Gateway, limit: int, **params: str) -> tuple[list[dict], int]:
    """Every transaction, following ``has_more`` / ``starting_after``; and the page count."""
    items: list[dict] = []
    pages = 0
    while True:
        page = gateway.transactions(limit=limit, **params)
        pages += 1
        items += page["data"]
        if not page["has_more"]:
            return items, pages
        assert len(page["data"]) == limit
        params = {**params, "starting_after": page["data"][-1]["id"]}


def test_every_movement_is_listed_once_with_its_fee_and_references(
    fresh_gateway: Gateway,
) -> None:
    gateway, account = fresh_gateway, new_account()
    charge = gateway.captured(1999)
    uncaptured = gateway.authorized(1000)  # a hold moves nothing
    refund_ref, payout_ref = new_key("re"), new_key("po")
    refund = gateway.refund(charge["id"], 500, reference=refund_ref).json()
    failing = gateway.charge("tok_refundFails", amount=1000, capture=True).json()
    assert gateway.refund(failing["id"], 100).json()["status"] == "failed"  # moves nothing
    transfer = gateway.transfer(1000, account, reference=payout_ref).json()
    reversed_ = gateway.reverse(transfer["id"], 400).json()
    payout = gateway.payout(300, account, reference=payout_ref).json()
    assert gateway.payout(100, account, "ba_payoutFails").json()["status"] == "failed"

    page = gateway.transactions()
    assert page["has_more"] is False
    rows = [
        (t["type"], t["amount"], t["fee"], t["source"], t["reference"], t["payment_id"])
        for t in page["data"]
    ]
    assert rows == [
        ("charge", 1999, 88, charge["id"], charge["reference"], charge["reference"]),
        ("refund", -500, 0, refund["id"], refund_ref, charge["reference"]),
        ("charge", 1000, 59, failing["id"], failing["reference"], failing["reference"]),
        ("transfer", -1000, 0, transfer["id"], payout_ref, None),
        ("transfer_reversal", 400, 0, reversed_["reversals"][0]["id"], payout_ref, None),
        ("payout", -300, 0, payout["id"], payout_ref, None),
    ]
    assert uncaptured["id"] not in {t["source"] for t in page["data"]}
    assert [t["account"] for t in page["data"]] == [None] * 5 + [account]
    first = page["data"][0]
    assert first["id"].startswith("txn_")
    assert (first["object"], first["currency"], first["net"]) == (
        "balance_transaction",
        "USD",
        1911,
    )
    assert first["created"].endswith("Z")
    assert len(first["created"]) == len("2025-01-01T00:00:00.000Z")
    assert [t["created"] for t in page["data"]] == sorted(t["created"] for t in page["data"])

    platform = sum(t["net"] for t in page["data"] if t["account"] is None)
    assert gateway.available() == {"USD": platform} == {"USD": 1999 - 88 - 500 + 1000 - 59 - 600}
    assert gateway.available(account) == {"USD": 1000 - 400 - 300}


def test_date_filter_and_pagination(fresh_gateway: Gateway) -> None:
    gateway = fresh_gateway
    charges = []
    for amount in range(101, 111):  # ten captures, a few milliseconds apart
        charges.append(gateway.captured(amount))
        time.sleep(0.005)
    everything, pages = all_pages(gateway, limit=3)
    assert pages == 4  # 3 + 3 + 3 + 1
    assert [t["source"] for t in everything] == [c["id"] for c in charges]
    assert len({t["id"] for t in everything}) == 10
    assert gateway.transactions(limit=1000)["data"] == everything

    created = [t["created"] for t in everything]
    assert len(set(created)) == 10  # the sleeps keep them apart
    window = {"created_gte": created[2], "created_lt": created[7]}
    in_window, pages = all_pages(gateway, limit=2, **window)
    assert [t["amount"] for t in in_window] == [103, 104, 105, 106, 107]
    assert pages == 3

    # Bounds in another zone, 999 µs before those instants, select the same rows: stored
    # times are whole milliseconds, so "at or after 12:00:00.122001" means "from .123".
    zone = timezone(timedelta(hours=-5, minutes=-30))

    def just_before(stamp: str) -> str:
        moment = datetime.fromisoformat(stamp) - timedelta(microseconds=999)
        return moment.astimezone(zone).isoformat()

    shifted = {"created_gte": just_before(created[2]), "created_lt": just_before(created[7])}
    assert "-05:30" in shifted["created_gte"]
    assert gateway.transactions(**shifted)["data"] == in_window
    amounts = [103, 104, 105, 106]  # created_lt is exclusive: created[6] is not before itself
    up_to_6 = {"created_gte": created[2], "created_lt": created[6]}
    assert [t["amount"] for t in gateway.transactions(**up_to_6)["data"]] == amounts
    moment_6 = datetime.fromisoformat(created[6])
    a_microsecond_later = (moment_6 + timedelta(microseconds=1)).isoformat()
    including_6 = {"created_gte": created[2], "created_lt": a_microsecond_later}
    assert [t["amount"] for t in gateway.transactions(**including_6)["data"]] == [*amounts, 107]
    assert gateway.transactions(created_gte=created[9])["data"] == everything[9:]
    assert gateway.transactions(created_lt=created[0])["data"] == []
    after_last = gateway.transactions(starting_after=everything[-1]["id"])
    assert after_last == {"object": "list", "data": [], "has_more": False}


def test_bad_list_parameters_are_400(gateway: Gateway) -> None:
    for params, code in (
        ({"limit": 0}, "parameter_invalid"),
        ({"limit": 1001}, "parameter_invalid"),
        ({"created_gte": "yesterday"}, "parameter_invalid"),
        ({"created_lt": "2025-01-01T00:00:00"}, "parameter_invalid"),  # no zone: ambiguous
        ({"starting_after": "txn_doesnotexist"}, "resource_missing"),
    ):
        response = gateway.http.get("/v1/balance_transactions", params=params)
        assert (response.status_code, error_code(response)) == (400, code), params
