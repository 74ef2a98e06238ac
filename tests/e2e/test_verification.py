"""The run verifier used by `paysaga bench` and `paysaga chaos` catches what it must."""

import asyncio

from schemas.runtime.temporal_client import connect
from tests.e2e.conftest import create_payment
from workers.tools.verification import verify_payments


async def _verify(stack, stack_db, payment_ids):
    client = await connect(stack.settings())
    return await verify_payments(
        payment_ids,
        client=client,
        gateway_url=stack.gateway_url,
        gateway_headers=stack.gateway_headers,
        engine=stack_db,
        tenant_id="ten_default",
        settle_seconds=20,
    )


async def test_clean_run_verifies_and_an_injected_duplicate_charge_fails(
    stack, api, gateway, stack_db
):
    responses = await asyncio.gather(
        create_payment(api),
        create_payment(api, payment_method="tok_chargeDeclined"),
        create_payment(api, payment_method="tok_captureFails"),
    )
    payment_ids = [r.json()["payment_id"] for r in responses]

    clean = await _verify(stack, stack_db, payment_ids)
    assert clean.ok, clean.problems()
    assert clean.statuses == {"succeeded": 1, "declined": 1, "failed": 1}

    # A second charge for the same payment under another key: what a random key would cause.
    duplicate = await gateway.post(
        "/v1/charges",
        json={
            "amount": 1999,
            "currency": "USD",
            "payment_method": "tok_visa",
            "capture": True,
            "reference": payment_ids[0],
        },
        headers={"Idempotency-Key": "injected-duplicate"},
    )
    assert duplicate.status_code == 200

    dirty = await _verify(stack, stack_db, payment_ids)
    assert not dirty.ok
    assert dirty.duplicate_charges == {payment_ids[0]: 2}


async def test_a_paused_payment_is_reported_not_final(stack, api, stack_db):
    paused = (await create_payment(api, capture_method="manual")).json()["payment_id"]

    client = await connect(stack.settings())
    result = await verify_payments(
        [paused],
        client=client,
        gateway_url=stack.gateway_url,
        gateway_headers=stack.gateway_headers,
        engine=stack_db,
        tenant_id="ten_default",
        settle_seconds=1,
    )

    assert result.not_final == [paused]
    assert not result.ok
    await api.post(f"/v1/payments/{paused}/cancel", json={})
