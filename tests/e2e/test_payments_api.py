"""The payment scenarios through the REST API, on the real embedded stack."""

import asyncio

from sqlalchemy import text

from tests.e2e.conftest import create_payment
from tests.e2e.conftest import wait_for_status


async def ledger_balances(api) -> dict[tuple[str, str], int]:
    return {
        (b["account"], b["currency"]): b["balance"]
        for b in (await api.get("/v1/ledger/balances")).json()["data"]
    }


async def test_automatic_capture(api):
    before = await ledger_balances(api)
    created = await create_payment(api, amount=2599)

    assert created.status_code == 201
    payment = created.json()
    assert payment["status"] == "succeeded"
    assert payment["captured_amount"] == 2599
    assert payment["payment_id"].startswith("pay_")
    fetched = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
    assert fetched == payment
    listed = (await api.get("/v1/payments", params={"customer_id": payment["customer_id"]})).json()
    assert [p["payment_id"] for p in listed["data"]] == [payment["payment_id"]]
    balances = await ledger_balances(api)
    merchant = ("merchant_balance", "USD")
    # The merchant is owed the captured amount less the provider's fee.
    assert balances[merchant] - before.get(merchant, 0) == -(2599 - payment["fee"])
    assert balances[merchant] == -balances[("provider_clearing:sandbox", "USD")]


async def test_manual_partial_capture_then_actions_in_the_wrong_state(api):
    created = await create_payment(api, capture_method="manual", amount=5000)
    assert (created.status_code, created.json()["status"]) == (201, "requires_capture")
    payment_id = created.json()["payment_id"]

    too_much = await api.post(f"/v1/payments/{payment_id}/capture", json={"amount": 5001})
    assert (too_much.status_code, too_much.json()["code"]) == (422, "amount_exceeds_authorized")
    assert too_much.headers["content-type"] == "application/problem+json"

    captured = await api.post(f"/v1/payments/{payment_id}/capture", json={"amount": 3000})
    assert captured.status_code == 200
    assert (captured.json()["status"], captured.json()["captured_amount"]) == ("succeeded", 3000)

    again = await api.post(f"/v1/payments/{payment_id}/capture", json={})
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    cancel = await api.post(f"/v1/payments/{payment_id}/cancel", json={})
    assert (cancel.status_code, cancel.json()["code"]) == (409, "invalid_state")


async def test_cancel_voids_the_authorization(api, gateway):
    payment = (await create_payment(api, capture_method="manual")).json()

    canceled = await api.post(f"/v1/payments/{payment['payment_id']}/cancel", json={})

    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
    assert charge["status"] == "voided"


async def test_decline_is_a_payment_that_ended_declined(api, stack_db):
    created = await create_payment(api, payment_method="tok_chargeDeclined")

    assert created.status_code == 201
    assert (created.json()["status"], created.json()["failure_code"]) == (
        "declined",
        "generic_decline",
    )
    with stack_db.connect() as connection:
        entries = connection.execute(
            text("SELECT count(*) FROM journal_entries WHERE payment_id = :p"),
            {"p": created.json()["payment_id"]},
        ).scalar_one()
    assert entries == 0


async def test_capture_failure_voids(api, gateway):
    payment = (await create_payment(api, payment_method="tok_captureFails")).json()

    assert (payment["status"], payment["failure_code"]) == ("failed", "capture_failed")
    assert payment["steps"][-1]["name"] == "void_authorization"
    charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
    assert charge["status"] == "voided"


async def test_ledger_failure_refunds(api, gateway, stack_db):
    with stack_db.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER IF NOT EXISTS e2e_ledger_down BEFORE INSERT ON journal_entries "
                "WHEN NEW.payment_id IN (SELECT payment_id FROM payments "
                "WHERE customer_id = 'cus_e2e_ledger_down') "
                "BEGIN SELECT RAISE(ABORT, 'ledger is down'); END"
            )
        )
    payment = (await create_payment(api, customer_id="cus_e2e_ledger_down")).json()

    assert (payment["status"], payment["failure_code"]) == ("failed", "ledger_failed")
    assert payment["refunded_amount"] == payment["amount"]
    charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
    assert charge["status"] == "refunded"


async def test_three_d_secure_confirm(api, gateway):
    created = await create_payment(api, payment_method="tok_threeDSecureRequired")
    payment = created.json()
    assert (created.status_code, payment["status"]) == (201, "requires_action")
    assert payment["next_action_url"]

    early = await api.post(f"/v1/payments/{payment['payment_id']}/capture", json={})
    assert early.status_code == 409
    await gateway.post(
        f"/v1/charges/{payment['provider_reference']}/3ds/complete", json={"outcome": "succeed"}
    )
    confirmed = await api.post(f"/v1/payments/{payment['payment_id']}/confirm", json={})
    assert confirmed.status_code == 202

    final = await wait_for_status(api, payment["payment_id"], "succeeded")
    assert final["captured_amount"] == payment["amount"]


async def test_timers_expire_and_void(api, gateway):
    """3-D Secure never completed, and a manual hold never captured (timers set to 8 s)."""
    action = (await create_payment(api, payment_method="tok_threeDSecureRequired")).json()
    hold = (await create_payment(api, capture_method="manual")).json()

    expired = await asyncio.gather(
        wait_for_status(api, action["payment_id"], "expired"),
        wait_for_status(api, hold["payment_id"], "expired"),
    )

    assert [p["failure_code"] for p in expired] == ["action_expired", "authorization_expired"]
    for payment in expired:
        assert payment["steps"][-1]["name"] == "void_authorization"
        charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
        assert charge["status"] == "voided"


async def test_twenty_concurrent_payments_all_finish(api, gateway):
    customer = "cus_e2e_concurrent"
    responses = await asyncio.gather(
        *(create_payment(api, amount=100 + i, customer_id=f"{customer}_{i}") for i in range(20))
    )

    assert {r.status_code for r in responses} == {201}
    assert {r.json()["status"] for r in responses} == {"succeeded"}
    stats = (await gateway.get("/v1/stats")).json()
    for response in responses:
        assert stats["charges_by_reference"][response.json()["payment_id"]] == 1


async def test_list_is_paginated_with_a_cursor(api):
    customer = "cus_e2e_pages"
    for _ in range(3):
        await create_payment(api, customer_id=customer)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"customer_id": customer, "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.get("/v1/payments", params=params)).json()
        seen += [p["payment_id"] for p in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 3
