"""Events pushed to webhook endpoints on the embedded stack (real API, worker, Temporal,
SQLite), received by a real receiver process that verifies each delivery with the
standardwebhooks library (not ours)."""

import asyncio
import uuid

import httpx
import pytest

from tests.e2e.conftest import create_payment
from tests.e2e.conftest import post_created
from tests.e2e.conftest import wait_for_status
from tests.support.waits import until
from tests.support.webhook_receiver import webhook_receiver


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    with webhook_receiver(tmp_path_factory.mktemp("receiver")) as receiver:
        yield receiver


async def register(client: httpx.AsyncClient, receiver, events=("*",)) -> tuple[dict, str]:
    name = uuid.uuid4().hex[:12]
    endpoint = await post_created(
        client,
        "/v1/webhook-endpoints",
        {"url": receiver.url(name), "enabled_events": list(events)},
    )
    receiver.configure(name, secrets=[endpoint["secret"]])
    return endpoint, name


async def received(receiver, name: str, count: int = 1) -> list[dict]:
    return await until(lambda: receiver.deliveries(name), lambda got: len(got) >= count)


async def json_of(client: httpx.AsyncClient, path: str, **params) -> dict:
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def paid(client: httpx.AsyncClient, **overrides) -> dict:
    response = await create_payment(client, **overrides)
    assert response.status_code == 201, response.text
    return await wait_for_status(client, response.json()["payment_id"], "succeeded")


async def test_a_payment_reaches_its_endpoint_once_signed_with_its_final_state(merchant, receiver):
    endpoint, name = await register(merchant, receiver, ["payment.*"])
    assert endpoint["secret"].startswith("whsec_")
    assert "secret" not in (
        await merchant.get(f"/v1/webhook-endpoints/{endpoint['id']}")
    ).json() or (
        (await merchant.get(f"/v1/webhook-endpoints/{endpoint['id']}")).json()["secret"] is None
    )
    payment = await paid(merchant)

    (delivery,) = await received(receiver, name)
    assert delivery["body"]["type"] == "payment.succeeded"
    sent = delivery["body"]["data"]["object"]
    assert sent["payment_id"] == payment["payment_id"]
    assert (sent["status"], sent["captured_amount"]) == ("succeeded", payment["amount"])
    assert receiver.rejected(name) == []

    events = await json_of(merchant, "/v1/events", object_id=payment["payment_id"])
    assert [event["type"] for event in events["data"]] == ["payment.succeeded"]
    assert delivery["webhook_id"] == events["data"][0]["id"]
    listed = await until(
        lambda: json_of(merchant, f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"),
        lambda page: page["data"] and page["data"][0]["status"] == "delivered",
    )
    (record,) = listed["data"]
    assert record["status"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [200]
    await asyncio.sleep(1)  # nothing else arrives: once
    assert len(receiver.deliveries(name)) == 1


async def test_an_endpoint_subscribed_to_refunds_gets_only_refunds(merchant, receiver):
    _, refunds = await register(merchant, receiver, ["refund.*"])
    _, everything = await register(merchant, receiver)
    payment = await paid(merchant, amount=5_000)
    response = await merchant.post(
        f"/v1/payments/{payment['payment_id']}/refunds",
        json={"amount": 1_000},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert response.status_code == 201, response.text

    (refund,) = await received(receiver, refunds)
    assert refund["body"]["type"] == "refund.succeeded"
    assert refund["body"]["data"]["object"]["amount"] == 1_000
    types = {d["body"]["type"] for d in await received(receiver, everything, count=2)}
    assert types == {"payment.succeeded", "refund.succeeded"}
    assert len(receiver.deliveries(refunds)) == 1


async def test_a_failed_delivery_is_listed_and_sent_again_on_request(merchant, receiver):
    endpoint, name = await register(merchant, receiver, ["payment.succeeded"])
    receiver.configure(name, secrets=[endpoint["secret"]], mode="fail", status=500)
    await paid(merchant)
    deliveries_url = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    pending = await until(
        lambda: json_of(merchant, deliveries_url, status="pending"),
        lambda page: page["data"] and page["data"][0]["attempts"],
    )
    (delivery,) = pending["data"]
    assert delivery["attempts"][0]["status_code"] == 500
    assert delivery["next_attempt_at"] is not None

    receiver.configure(name, mode="ok")
    retried = await merchant.post(f"{deliveries_url}/{delivery['id']}/retry")
    assert retried.status_code == 202, retried.text
    # Received (and verified) twice: answered 500, then 200.
    first, again = await received(receiver, name, count=2)
    assert first["webhook_id"] == again["webhook_id"] == delivery["event_id"]
    delivered = await until(
        lambda: json_of(merchant, deliveries_url),
        lambda page: page["data"][0]["status"] == "delivered",
    )
    assert [a["status_code"] for a in delivered["data"][0]["attempts"]] == [500, 200]


async def test_both_secrets_sign_during_a_rotation_overlap(merchant, receiver):
    endpoint, name = await register(merchant, receiver, ["payment.succeeded"])
    old = endpoint["secret"]
    rotated = await merchant.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", json={"overlap_seconds": 3600}
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and rotated.json()["previous_secret_expires_at"]

    receiver.configure(name, secrets=[old])
    await paid(merchant)
    (first,) = await received(receiver, name)
    receiver.configure(name, secrets=[new])
    await paid(merchant)
    second = (await received(receiver, name, count=2))[1]
    assert (first["secret"], second["secret"]) == (old, new)
    signatures = {k.lower(): v for k, v in second["headers"].items()}["webhook-signature"]
    assert len(signatures.split(" ")) == 2
    assert receiver.rejected(name) == []


async def test_a_worker_killed_after_the_commit_still_delivers_one_event_id(
    stack, merchant, receiver
):
    _, name = await register(merchant, receiver, ["payment.succeeded"])
    # A worker whose relay looks once, at its start: the event is committed with the payment
    # and left for the relay, and the worker dies before it looks again.
    stack.extra_env["PAYSAGA_EVENT_RELAY_INTERVAL"] = "PT1H"
    try:
        stack.kill_worker()
        stack.start_worker()
        payment = await paid(merchant)
        events = (
            await merchant.get("/v1/events", params={"object_id": payment["payment_id"]})
        ).json()
        (event,) = events["data"]
        await asyncio.sleep(1)
        assert receiver.deliveries(name) == []
        stack.kill_worker()
    finally:
        del stack.extra_env["PAYSAGA_EVENT_RELAY_INTERVAL"]
    stack.start_worker()
    (delivery,) = await received(receiver, name)
    assert delivery["webhook_id"] == event["id"]
    await asyncio.sleep(1)
    assert [d["webhook_id"] for d in receiver.deliveries(name)] == [event["id"]]


async def test_events_are_the_tenants_own(merchant, api):
    payment = await paid(merchant)
    events = (await json_of(merchant, "/v1/events", type="payment.*"))["data"]
    event = next(e for e in events if e["object_id"] == payment["payment_id"])
    assert (await merchant.get(f"/v1/events/{event['id']}")).status_code == 200
    other = await api.get(f"/v1/events/{event['id']}")
    assert other.status_code == 404
    assert other.headers["content-type"].startswith("application/problem+json")
