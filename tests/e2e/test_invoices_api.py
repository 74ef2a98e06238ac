"""Invoices and installment plans through the REST API on the embedded stack (real
Temporal dev server, worker, sandbox gateway and SQLite)."""

import asyncio
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx

PROBLEM_JSON = "application/problem+json"


def later(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def invoice_body(**overrides) -> dict:
    body = {
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "currency": "USD",
        "line_items": [
            {"description": "Widget", "quantity": 3, "unit_amount": 1999, "tax_rate": "0.0825"},
            {"description": "Setup", "quantity": 1, "unit_amount": 50, "tax_rate": "0.05"},
        ],
        "service_fee_rate": "0.029",
        "due_at": later(14),
    }
    return body | overrides


async def new_invoice(api: httpx.AsyncClient, **overrides) -> dict:
    response = await api.post("/v1/invoices", json=invoice_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()


def key() -> dict:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def invoice_when(api: httpx.AsyncClient, invoice_id: str, status: str) -> dict:
    async with asyncio.timeout(30):
        while True:
            invoice = (await api.get(f"/v1/invoices/{invoice_id}")).json()
            if invoice["status"] == status:
                return invoice
            await asyncio.sleep(0.1)


async def test_an_invoice_is_priced_exactly(api):
    invoice = await new_invoice(api)

    # 5997 * 0.0825 = 494.7525 -> 495; 50 * 0.05 = 2.5 -> 2 (half to even);
    # fee: 6047 * 0.029 = 175.363 -> 175.
    assert [(line["subtotal"], line["tax"]) for line in invoice["line_items"]] == [
        (5997, 495),
        (50, 2),
    ]
    assert (invoice["subtotal"], invoice["tax"], invoice["fee"]) == (6047, 497, 175)
    assert invoice["total"] == 6047 + 497 + 175
    assert (invoice["status"], invoice["amount_paid"]) == ("open", 0)
    assert invoice["invoice_id"].startswith("inv_")
    assert (await api.get(f"/v1/invoices/{invoice['invoice_id']}")).json() == invoice
    listed = (await api.get("/v1/invoices", params={"customer_id": invoice["customer_id"]})).json()
    assert [i["invoice_id"] for i in listed["data"]] == [invoice["invoice_id"]]


async def test_bad_invoices_are_refused_and_nothing_is_written(api):
    customer = f"cus_{uuid.uuid4().hex[:10]}"
    item = {"description": "x", "quantity": 1, "unit_amount": 100}
    bad = [
        {"line_items": [item | {"tax_rate": "0.00001"}]},  # five decimal places
        {"line_items": [item | {"tax_rate": "1"}]},
        {"line_items": [item | {"tax_rate": "-0.1"}]},
        {"line_items": [item | {"quantity": 0}]},
        {"line_items": [item | {"unit_amount": -1}]},
        {"line_items": []},
        {"line_items": [item] * 101},
        {"line_items": [item | {"unit_amount": 0}]},  # total 0
        {"line_items": [item | {"unit_amount": 99_999_999_999, "tax_rate": "0.1"}]},  # > max
        {"service_fee_rate": "0.12345"},
        {"expires_at": later(1)},  # before due_at
    ]
    for overrides in bad:
        response = await api.post(
            "/v1/invoices", json=invoice_body(customer_id=customer) | overrides
        )
        assert response.status_code == 422, (overrides, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON
    listed = await api.get("/v1/invoices", params={"customer_id": customer})
    assert listed.json()["data"] == []
    zero = await api.post(
        "/v1/invoices",
        json=invoice_body(line_items=[item | {"unit_amount": 0}]),
    )
    assert zero.json()["code"] == "invalid_amount"


async def test_an_open_invoice_changes_then_paid_in_full_it_is_locked(api, gateway):
    invoice = await new_invoice(api)
    invoice_id = invoice["invoice_id"]
    lines = [{"description": "Yearly", "quantity": 1, "unit_amount": 12000, "tax_rate": "0.1"}]

    patched = await api.patch(f"/v1/invoices/{invoice_id}", json={"line_items": lines})

    assert patched.status_code == 200, patched.text
    # 12000 + 1200 tax + 348 fee (12000 * 0.029).
    assert (patched.json()["total"], patched.json()["fee"]) == (13548, 348)
    assert patched.json()["due_at"] == invoice["due_at"]

    paid = await api.post(
        f"/v1/invoices/{invoice_id}/pay", json={"payment_method": "tok_visa"}, headers=key()
    )

    assert paid.status_code == 201, paid.text
    plan = paid.json()
    assert (plan["status"], plan["amount_paid"], plan["total"]) == ("completed", 13548, 13548)
    [installment] = plan["installments"]
    assert (installment["principal"], installment["tax"], installment["fee"]) == (12000, 1200, 348)
    payment_id = installment["attempts"][0]["payment_id"]
    payment = (await api.get(f"/v1/payments/{payment_id}")).json()
    assert (payment["status"], payment["amount"]) == ("succeeded", 13548)
    invoice = await invoice_when(api, invoice_id, "paid")
    assert (invoice["amount_paid"], invoice["installment_plan_id"]) == (
        13548,
        plan["installment_plan_id"],
    )

    locked = await api.patch(f"/v1/invoices/{invoice_id}", json={"service_fee_rate": "0"})
    again = await api.post(
        f"/v1/invoices/{invoice_id}/pay", json={"payment_method": "tok_visa"}, headers=key()
    )
    assert (locked.status_code, locked.json()["code"]) == (409, "invoice_locked")
    assert (again.status_code, again.json()["code"]) == (409, "invoice_locked")
    assert (await api.get(f"/v1/invoices/{invoice_id}")).json()["total"] == 13548
    # Its events: made, then paid (an edit of an open invoice changes no status).
    events = (await api.get("/v1/events", params={"object_id": invoice_id})).json()["data"]
    assert events[-1]["type"] == "invoice.created"
    assert events[0]["type"] == "invoice.paid"
    assert events[0]["data"]["object"]["amount_paid"] == 13548


async def test_an_expired_invoice_cannot_be_paid(api):
    invoice = await new_invoice(
        api,
        due_at=(datetime.now(UTC) - timedelta(days=2)).isoformat(),
        expires_at=(datetime.now(UTC) - timedelta(days=1)).isoformat(),
    )
    assert invoice["status"] == "expired"

    paid = await api.post(
        f"/v1/invoices/{invoice['invoice_id']}/pay",
        json={"payment_method": "tok_visa"},
        headers=key(),
    )

    assert (paid.status_code, paid.json()["code"]) == (409, "invoice_expired")


async def test_an_installment_plan_for_an_invoice_and_its_early_payment_and_cancel(api):
    invoice = await new_invoice(api)
    total = invoice["total"]  # 6719: 2239, 2239, 2241
    body = {
        "invoice_id": invoice["invoice_id"],
        "payment_method": "tok_visa",
        "count": 3,
        "interval": "month",
    }

    created = await api.post("/v1/installment-plans", json=body, headers=key())

    assert created.status_code == 201, created.text
    plan = created.json()
    plan_id = plan["installment_plan_id"]
    fetched = (await api.get(f"/v1/installment-plans/{plan_id}")).json()
    installments = fetched["installments"]
    assert [i["amount"] for i in installments] == [2239, 2239, 2241]
    assert [i["status"] for i in installments] == ["paid", "pending", "pending"]
    for name, column in (("principal", "subtotal"), ("tax", "tax"), ("fee", "fee")):
        assert sum(i[name] for i in installments) == invoice[column]
    assert fetched["amount_paid"] == 2239 and fetched["amount_outstanding"] == total - 2239
    assert (await invoice_when(api, invoice["invoice_id"], "in_payment"))["amount_paid"] == 2239
    second = await api.post("/v1/installment-plans", json=body, headers=key())
    assert (second.status_code, second.json()["code"]) == (409, "invoice_locked")

    out_of_order = await api.post(
        f"/v1/installment-plans/{plan_id}/payments", json={"installment": 3}, headers=key()
    )
    too_much = await api.post(
        f"/v1/installment-plans/{plan_id}/payments", json={"amount": total}, headers=key()
    )
    early = await api.post(
        f"/v1/installment-plans/{plan_id}/payments", json={"amount": 3000}, headers=key()
    )

    assert (out_of_order.status_code, out_of_order.json()["code"]) == (
        409,
        "installment_out_of_order",
    )
    assert (too_much.status_code, too_much.json()["code"]) == (422, "amount_exceeds_outstanding")
    assert early.status_code == 200, early.text
    after = early.json()["plan"]
    assert [i["status"] for i in after["installments"]] == ["paid", "paid", "pending"]
    assert [i["paid"] for i in after["installments"]] == [2239, 2239, 761]

    canceled = await api.post(f"/v1/installment-plans/{plan_id}/cancel", json={})

    assert canceled.status_code == 200, canceled.text
    assert canceled.json()["status"] == "canceled"
    invoice = await invoice_when(api, invoice["invoice_id"], "canceled")
    assert invoice["amount_paid"] == 2239 + 3000
    stored = (await api.get(f"/v1/installment-plans/{plan_id}")).json()
    assert stored["status"] == "canceled"
    listed = (
        await api.get("/v1/installment-plans", params={"invoice_id": invoice["invoice_id"]})
    ).json()
    assert [p["installment_plan_id"] for p in listed["data"]] == [plan_id]


async def test_a_plan_without_an_invoice_checks_its_amounts(api):
    body = {
        "amount": 10000,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "payment_method": "tok_visa",
        "due_dates": [later(1), later(30)],
    }

    mismatch = await api.post(
        "/v1/installment-plans", json=body | {"amounts": [5000, 4000]}, headers=key()
    )
    both = await api.post(
        "/v1/installment-plans", json=body | {"invoice_id": "inv_" + "0" * 24}, headers=key()
    )
    custom = await api.post(
        "/v1/installment-plans", json=body | {"amounts": [2500, 7500]}, headers=key()
    )

    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "invalid_installments")
    assert both.status_code == 422
    assert custom.status_code == 201, custom.text
    plan = custom.json()
    assert [(i["amount"], i["principal"], i["status"]) for i in plan["installments"]] == [
        (2500, 2500, "pending"),
        (7500, 7500, "pending"),
    ]
    assert plan["next_charge_at"] == plan["installments"][0]["due_at"]
    canceled = await api.post(f"/v1/installment-plans/{plan['installment_plan_id']}/cancel")
    assert canceled.json()["status"] == "canceled"
