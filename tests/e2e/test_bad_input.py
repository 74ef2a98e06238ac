"""Bad input through the REST API, on the real embedded stack.

Every rejection is RFC 9457 problem+json with a stable ``code``, echoes no card number, and
writes nothing: no payment row, no idempotency key, no journal entry, no charge at the gateway.
"""

import asyncio
import json
import random
import uuid
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy import text

from tests.e2e.conftest import create_payment
from tests.e2e.conftest import payment_body

PROBLEM_JSON = "application/problem+json"
PAN = "4242424242424242"
UNKNOWN_IDS = ["pay_000000000000000000000000", "not-an-id", "pay_" + "f" * 2000]
COUNTS = text(
    "SELECT (SELECT count(*) FROM payments) AS payments,"
    " (SELECT count(*) FROM idempotent_requests) AS idempotent_requests,"
    " (SELECT count(*) FROM journal_entries) AS journal_entries,"
    " (SELECT count(*) FROM postings) AS postings"
)


def assert_problem(response: httpx.Response, status: int, code: str, case: str = "") -> dict:
    """The response is problem+json with this status and stable code (``case`` names the input)."""
    context = f"{case}: {response.status_code} {response.text[:500]}"
    assert response.headers["content-type"] == PROBLEM_JSON, context
    problem = response.json()
    assert (response.status_code, problem["status"], problem["code"]) == (status, status, code), (
        context
    )
    assert problem["type"] == f"urn:paysaga:problem:{code}"
    assert isinstance(problem["title"], str) and problem["title"]
    return problem


async def counts(stack_db: Engine, gateway: httpx.AsyncClient) -> dict[str, int]:
    with stack_db.connect() as connection:
        rows = dict(connection.execute(COUNTS).mappings().one())
    rows["charges_created"] = (await gateway.get("/v1/stats")).json()["charges_created"]
    return rows


@pytest.fixture
def writes_nothing(stack_db, gateway):
    """``async with writes_nothing():`` fails if anything was written inside the block."""

    @asynccontextmanager
    async def unchanged():
        before = await counts(stack_db, gateway)
        yield
        assert await counts(stack_db, gateway) == before

    return unchanged


async def settled_payment(api, stack_db, status: str, **overrides) -> dict:
    """A payment in ``status`` whose read-model row has been written, so no write is pending."""
    created = await create_payment(api, **overrides)
    assert (created.status_code, created.json()["status"]) == (201, status), created.text
    await settled_row(stack_db, created.json()["payment_id"], status)
    return created.json()


async def settled_row(stack_db, payment_id: str, status: str) -> None:
    async with asyncio.timeout(10):
        while True:
            with stack_db.connect() as connection:
                stored = connection.execute(
                    text("SELECT status FROM payments WHERE payment_id = :p"), {"p": payment_id}
                ).scalar_one_or_none()
            if stored == status:
                return
            await asyncio.sleep(0.05)


def new_key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def post_payment(api, body, headers=None) -> httpx.Response:
    return await api.post("/v1/payments", json=body, headers=headers or new_key())


# Field by field: each bad value gets its field's code, whatever else the body holds.


async def assert_field_rejected(api, field: str, values: list, code: str) -> list[httpx.Response]:
    responses = []
    for value in values:
        response = await post_payment(api, payment_body(**{field: value}))
        assert_problem(response, 422, code, f"{field}={value!r}")
        responses.append(response)
    return responses


async def test_unknown_currency(api, writes_nothing):
    currencies = ["XYZ", "usd1", "XXX", "xts", "", "US", "€UR", None, 840, ["USD"]]
    async with writes_nothing():
        responses = await assert_field_rejected(api, "currency", currencies, "invalid_currency")
    for currency, response in zip(currencies, responses, strict=True):
        if isinstance(currency, str) and currency:
            assert f"'{currency.upper()}'" not in response.text  # the input is not echoed


async def test_invalid_amount(api, writes_nothing):
    amounts = [0, -1, 19.99, 10.0, "100", 10**12, 2**63, 10**30, -(2**63), None, True, [100]]
    async with writes_nothing():
        await assert_field_rejected(api, "amount", amounts, "invalid_amount")


async def test_malformed_token_is_rejected_and_never_echoed(api, writes_nothing):
    tokens = [PAN, "tok_", "tok_with space", "tok_" + "a" * 196, "tok_visa\n", f"tok_{PAN}x" * 4]
    async with writes_nothing():
        responses = await assert_field_rejected(
            api, "payment_method", [*tokens, None, {"number": PAN}], "invalid_payment_method"
        )
    for response in responses:
        assert PAN not in response.text


async def test_unknown_provider(api, writes_nothing):
    async with writes_nothing():
        await assert_field_rejected(
            # null is no choice: the routing rules pick the provider.
            api,
            "provider",
            ["paypal2", "Sandbox", "", 0],
            "unknown_provider",
        )


async def test_unknown_fields_are_rejected_and_the_card_never_echoed(api, writes_nothing):
    cases = [
        ({"card_number": PAN}, "validation_error", "card_number"),
        ({"card": {"number": PAN, "cvc": "123"}}, "validation_error", "card"),
        ({PAN: "4242"}, "validation_error", "*"),  # a card number as a field name
        # A card number as a metadata key is refused as such, before its value is read.
        ({"metadata": {PAN: 4242}}, "invalid_metadata", "metadata.*.[key]"),
        ({"metadata": {PAN + "x" * 40: "card"}}, "invalid_metadata", "metadata.*.[key]"),
    ]
    async with writes_nothing():
        for extra, code, field in cases:
            response = await post_payment(api, payment_body(**extra))
            problem = assert_problem(response, 422, code, repr(extra))
            assert problem["errors"][0]["field"] == field
            assert PAN not in response.text


# The body as a whole, and the Idempotency-Key header.


async def post_raw(api, raw: bytes, content_type: str | None = "application/json"):
    headers = new_key() | ({"Content-Type": content_type} if content_type else {})
    return await api.post("/v1/payments", content=raw, headers=headers)


async def test_body_that_is_not_json_is_400_malformed_json(api, writes_nothing):
    bodies = [
        b'{"amount": ',
        b"{'amount': 1999}",
        b'{"amount": 1999,}',
        b"\xff\xfe{not utf-8",  # undecodable bytes
        b"[" * 20_000,  # nested deeper than the parser goes
        b'{"amount": 1' + b"0" * 5000 + b"}",  # more digits than Python converts
    ]
    async with writes_nothing():
        for raw in bodies:
            assert_problem(await post_raw(api, raw), 400, "malformed_json", repr(raw[:40]))


async def test_a_body_over_64_kib_is_413_whether_declared_or_streamed(api, writes_nothing):
    body = payment_body(description="x" * 200)
    oversized = json.dumps({**body, "padding": "x" * 64 * 1024}).encode()

    async def chunks():
        for start in range(0, len(oversized), 4096):
            yield oversized[start : start + 4096]

    async with writes_nothing():
        declared = await post_raw(api, oversized)
        # No Content-Length: the limit applies to what is read, not to what is announced.
        streamed = await api.post(
            "/v1/payments",
            content=chunks(),
            headers=new_key() | {"Content-Type": "application/json"},
        )
    for response in (declared, streamed):
        assert_problem(response, 413, "payload_too_large", "oversized body")


async def test_body_that_is_not_a_json_object_is_422_validation_error(api, writes_nothing):
    """Empty, an array, a scalar, or not declared as JSON: the body as a whole is invalid."""
    valid = json.dumps(payment_body()).encode()
    requests = [
        (b"", "application/json"),
        (b"[]", "application/json"),
        (json.dumps([payment_body()]).encode(), "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b"1999", "application/json"),
        (valid, "text/plain"),  # the right JSON under the wrong content type
        (b"amount=1999&currency=USD", "application/x-www-form-urlencoded"),
        (valid, None),  # no content type at all
    ]
    async with writes_nothing():
        for raw, content_type in requests:
            response = await post_raw(api, raw, content_type)
            problem = assert_problem(
                response, 422, "validation_error", f"{raw[:40]!r} {content_type}"
            )
            assert problem["errors"][0]["field"] == "body"


async def test_idempotency_key_is_required_and_bounded(api, writes_nothing):
    async with writes_nothing():
        for headers in ({"X-Other": "1"}, {"Idempotency-Key": ""}, {"Idempotency-Key": "k" * 256}):
            response = await post_payment(api, payment_body(), headers=headers)
            problem = assert_problem(response, 422, "invalid_header", str(headers)[:40])
            assert problem["errors"][0]["field"] == "Idempotency-Key"


async def test_same_idempotency_key_with_another_body(api, stack_db, writes_nothing):
    key = {"Idempotency-Key": f"bad-input-{uuid.uuid4().hex}"}
    body = payment_body()
    first = await post_payment(api, body, headers=key)
    assert first.status_code == 201
    await settled_row(stack_db, first.json()["payment_id"], "succeeded")

    async with writes_nothing():
        for changed in ({"amount": body["amount"] + 1}, {"currency": "EUR"}, {"description": "x"}):
            response = await post_payment(api, {**body, **changed}, headers=key)
            assert_problem(response, 422, "idempotency_mismatch", repr(changed))
        replay = await post_payment(api, body, headers=key)
    assert replay.json()["payment_id"] == first.json()["payment_id"]


# Actions on an existing payment.


async def test_capture_above_the_authorized_amount(api, gateway, stack_db, writes_nothing):
    payment = await settled_payment(
        api, stack_db, "requires_capture", capture_method="manual", amount=5000
    )
    capture = f"/v1/payments/{payment['payment_id']}/capture"
    try:
        async with writes_nothing():
            too_much = await api.post(capture, json={"amount": 5001})
            assert_problem(too_much, 422, "amount_exceeds_authorized")
            for amount in (0, -5, 49.5, "5000", 10**30):
                bad = await api.post(capture, json={"amount": amount})
                assert_problem(bad, 422, "invalid_amount", repr(amount))
            extra = await api.post(capture, json={"card": PAN})
            assert_problem(extra, 422, "validation_error")
            assert PAN not in extra.text

        after = (await api.get(f"/v1/payments/{payment['payment_id']}")).json()
        assert (after["status"], after["captured_amount"]) == ("requires_capture", 0)
        assert after["authorized_amount"] == 5000
        charge = (await gateway.get(f"/v1/charges/{payment['provider_reference']}")).json()
        assert (charge["status"], charge["amount_captured"]) == ("authorized", 0)
    finally:
        canceled = await api.post(f"/v1/payments/{payment['payment_id']}/cancel", json={})
        assert canceled.json()["status"] == "canceled"


async def test_actions_after_success_are_409(api, stack_db, writes_nothing):
    payment_id = (await settled_payment(api, stack_db, "succeeded"))["payment_id"]

    async with writes_nothing():
        for action, body in (
            ("capture", {}),
            ("capture", {"amount": 1}),
            ("cancel", {}),
            ("cancel", {"reason": "too late"}),
            ("confirm", {}),
        ):
            response = await api.post(f"/v1/payments/{payment_id}/{action}", json=body)
            assert_problem(response, 409, "invalid_state", f"{action} {body}")
    assert (await api.get(f"/v1/payments/{payment_id}")).json()["status"] == "succeeded"


async def test_capture_while_requires_action_is_409(api, stack_db, writes_nothing):
    payment = await settled_payment(
        api, stack_db, "requires_action", payment_method="tok_threeDSecureRequired"
    )
    payment_id = payment["payment_id"]
    try:
        async with writes_nothing():
            for body in ({}, {"amount": 1}):
                response = await api.post(f"/v1/payments/{payment_id}/capture", json=body)
                assert_problem(response, 409, "invalid_state", repr(body))
        assert (await api.get(f"/v1/payments/{payment_id}")).json()["status"] == "requires_action"
    finally:
        canceled = await api.post(f"/v1/payments/{payment_id}/cancel", json={})
        assert canceled.json()["status"] == "canceled"


async def test_unknown_payment_id_is_404_and_not_echoed(api, writes_nothing):
    async with writes_nothing():
        for payment_id in UNKNOWN_IDS:
            for method, action, body in (
                ("GET", "", None),
                ("POST", "/capture", {}),
                ("POST", "/capture", {"amount": 5}),
                ("POST", "/cancel", {}),
                ("POST", "/confirm", {}),
            ):
                response = await api.request(
                    method, f"/v1/payments/{payment_id}{action}", json=body
                )
                assert_problem(
                    response, 404, "payment_not_found", f"{method} {payment_id[:30]}{action}"
                )
                assert payment_id not in response.text


# Listing.


async def test_bad_list_parameters(api, writes_nothing):
    cases = [
        ({"limit": 0}, 422, "validation_error"),
        ({"limit": 1000}, 422, "validation_error"),
        ({"limit": "ten"}, 422, "validation_error"),
        ({"status": "bogus"}, 422, "validation_error"),
        ({"customer_id": "c" * 65}, 422, "validation_error"),
        ({"cursor": "x" * 201}, 422, "validation_error"),
        ({"cursor": "garbage"}, 400, "invalid_cursor"),
        ({"cursor": "Z2FyYmFnZQ=="}, 400, "invalid_cursor"),  # base64 of "garbage"
        ({"cursor": "bm90IGEgZGF0ZXxwYXlfMQ=="}, 400, "invalid_cursor"),  # "not a date|pay_1"
        ({"cursor": "//79"}, 400, "invalid_cursor"),  # bytes that are not UTF-8
        ({"cursor": "💳"}, 400, "invalid_cursor"),
    ]
    async with writes_nothing():
        for params, status, code in cases:
            response = await api.get("/v1/payments", params=params)
            assert_problem(response, status, code, str(params)[:60])


# Routing.


async def test_unknown_route_is_404_problem(api, writes_nothing):
    async with writes_nothing():
        for method, path in (
            ("GET", "/"),
            ("GET", "/v1/nope"),
            ("POST", "/v1/charges"),
            ("POST", "/v1/payments/pay_000000000000000000000000/disputes"),
        ):
            response = await api.request(method, path, json=payment_body(), headers=new_key())
            assert_problem(response, 404, "not_found", f"{method} {path}")


async def test_wrong_method_is_405_problem(api, writes_nothing):
    async with writes_nothing():
        for method, path, allowed in (
            ("DELETE", "/v1/payments", {"GET", "POST"}),
            ("PUT", "/v1/payments/pay_000000000000000000000000", {"GET"}),
            ("GET", "/v1/payments/pay_000000000000000000000000/capture", {"POST"}),
            ("PATCH", "/v1/ledger/balances", {"GET"}),
        ):
            response = await api.request(method, path, json=payment_body(), headers=new_key())
            assert_problem(response, 405, "method_not_allowed", f"{method} {path}")
            # Every method of the path, also when several routes serve it (GET and POST).
            assert set(response.headers["allow"].replace(" ", "").split(",")) == allowed


# Property-style: many random malformed bodies, never a 5xx, always a problem.

HUGE = 20_000
STRANGE_STRINGS = [
    "",
    " ",
    "\u0000",
    "💳💳💳",
    "ünïcødé-ŝtring",
    "\u202eevil\u202c",
    "'; DROP TABLE payments; --",
    PAN,
]


def _strange(rng: random.Random):
    """Any JSON value, from nulls to deep nesting and very long strings."""
    pick = rng.randrange(9)
    if pick == 0:
        return None
    if pick == 1:
        return rng.choice([True, False])
    if pick == 2:
        return rng.choice([-(2**70), -1, 0, 1.5, 1e308, 2**64, 10**40])
    if pick == 3:
        return rng.choice(STRANGE_STRINGS)
    if pick == 4:
        return rng.choice("ab€💳") * rng.randint(1001, HUGE)
    if pick == 5:
        return [rng.choice(STRANGE_STRINGS) for _ in range(rng.randint(0, 5))]
    if pick == 6:
        return {"nested": {"deeper": [None, {"x": rng.choice(STRANGE_STRINGS)}]}}
    if pick == 7:
        return {f"k{i}": "v" for i in range(rng.randint(51, 80))}
    return {"": rng.choice(STRANGE_STRINGS)}


# Values that each field rejects, so every generated body is invalid.
ALWAYS_INVALID = {
    "amount": lambda rng: rng.choice([None, 0, -7, 1.5, "10", 10**15, [1], {"a": 1}, True]),
    "currency": lambda rng: rng.choice([None, "", "EURO", "€€€", "XXX", 978, ["USD"], "US$"]),
    "customer_id": lambda rng: rng.choice([None, "", "has space", "ü" * 3, "c" * 65, 12, {}]),
    "payment_method": lambda rng: rng.choice([None, PAN, "tok_", "tok_ü", "pm_" + "a" * 65, 4]),
    "capture_method": lambda rng: rng.choice([None, "Manual", "later", 1, []]),
    "provider": lambda rng: rng.choice(["paypal2", "SANDBOX", 0, {"name": "sandbox"}]),
    "description": lambda rng: rng.choice([1, [], {}, "d" * rng.randint(1001, HUGE)]),
    "metadata": lambda rng: rng.choice(
        [None, [], "k=v", {"k": 1}, {"k": None}, {"": "v"}, {"k": "v" * 501}, {"k": {"n": 1}}]
    ),
}


def random_bad_body(rng: random.Random):
    if rng.random() < 0.15:  # not an object at all
        return rng.choice([None, [], [payment_body()], "body", 42, _strange(rng)])
    body = payment_body()
    if rng.random() < 0.2:
        body.pop(rng.choice(sorted(body)))
    if rng.random() < 0.2:
        body[rng.choice(sorted(ALWAYS_INVALID))] = _strange(rng)  # may happen to be valid
    if rng.random() < 0.3:
        body[rng.choice(["card_number", "cvc", "amount_decimal", "💳", "x" * 50])] = _strange(rng)
    # Last, so that at least one field is certainly invalid.
    for field in rng.sample(sorted(ALWAYS_INVALID), rng.randint(1, 3)):
        body[field] = ALWAYS_INVALID[field](rng)
    return body


def long_strings(value) -> list[str]:
    """The strings in a body long enough that finding one in the answer would be an echo."""
    if isinstance(value, str):
        return [value] if len(value) >= 12 else []
    if isinstance(value, list):
        return [s for item in value for s in long_strings(item)]
    if isinstance(value, dict):
        return [s for item in value.values() for s in long_strings(item)]
    return []


async def test_random_malformed_bodies_always_get_a_problem(api, writes_nothing):
    rng = random.Random(9457)
    async with writes_nothing():
        for attempt in range(60):
            body = random_bad_body(rng)
            raw = json.dumps(body).encode()
            response = await api.post(
                "/v1/payments",
                content=raw,
                headers={"Content-Type": "application/json", **new_key()},
            )
            context = f"attempt {attempt}: {raw[:300]!r} -> {response.text[:300]}"
            assert 400 <= response.status_code < 500, context
            assert response.headers["content-type"] == PROBLEM_JSON, context
            problem = response.json()
            assert {"type", "title", "status", "code"} <= problem.keys(), context
            assert problem["status"] == response.status_code, context
            for value in long_strings(body):
                assert value not in response.text, context


async def test_an_id_with_a_trailing_newline_is_404(api, stack_db, writes_nothing):
    """``pay_…%0A`` is no payment id: it is not found, and never bound to log lines."""
    payment = await settled_payment(api, stack_db, "succeeded")
    payment_id = payment["payment_id"]
    async with writes_nothing():
        for suffix in ("%0A", "%0D%0A"):
            for method, action, body in (("GET", "", None), ("POST", "/capture", {})):
                response = await api.request(
                    method, f"/v1/payments/{payment_id}{suffix}{action}", json=body
                )
                assert_problem(response, 404, "payment_not_found", f"{method} {suffix}{action}")


# Dates a saga would schedule on: far ahead they overflow ``datetime`` in the workflow.

FAR_DATES = ["9999-12-01T00:00:00Z", "9000-01-01T00:00:00Z", "0001-01-01T09:00:00+10:00"]


def installment_plan_body(**overrides) -> dict:
    body = {
        "amount": 6_000,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "payment_method": "tok_visa",
    }
    return body | overrides


@pytest.mark.parametrize("moment", FAR_DATES)
async def test_installment_dates_far_ahead_are_422(api, writes_nothing, moment):
    async with writes_nothing():
        for body in (
            installment_plan_body(first_due_at=moment, count=60, interval="month"),
            installment_plan_body(due_dates=[moment]),
            installment_plan_body(due_dates=["2027-01-01T00:00:00Z", moment]),
        ):
            response = await api.post(
                "/v1/installment-plans", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
            )
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON


async def test_a_pause_until_far_ahead_is_422(api):
    plan = await api.post(
        "/v1/plans",
        json={
            "name": "Pro",
            "amount": 1500,
            "currency": "USD",
            "interval": "month",
            "trial_days": 14,
        },
    )
    body = {
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "plan_id": plan.json()["plan_id"],
        "payment_method": "tok_visa",
    }
    created = await api.post(
        "/v1/subscriptions", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert created.status_code == 201, created.text
    url = f"/v1/subscriptions/{created.json()['subscription_id']}"
    async with asyncio.timeout(30):  # until its first charge is done: no pause during one
        while True:
            if (await api.get(url)).json()["runs"] >= 1:
                break
            await asyncio.sleep(0.1)
    try:
        for moment in [*FAR_DATES, "9999-12-31T23:59:59"]:
            response = await api.post(f"{url}/pause", json={"resume_at": moment})
            assert response.status_code == 422, (moment, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
        # The refused pauses changed nothing: the subscription still pauses and resumes.
        paused = await api.post(f"{url}/pause", json={"resume_at": "2030-01-01T00:00:00Z"})
        assert (paused.status_code, paused.json()["status"]) == (200, "paused"), paused.text
    finally:
        await api.post(f"{url}/cancel", json={})


async def test_a_plan_change_whose_proration_exceeds_the_maximum_is_422(api):
    """Prorated onto the next charge, a change to a plan at the maximum amount would make a
    charge above it: refused now, not met by the next period's workflow task."""
    plans = [
        await api.post(
            "/v1/plans",
            json={"name": name, "amount": amount, "currency": "USD", "interval": "month"},
        )
        for name, amount in (("Basic", 1_000), ("Top", 99_999_999_999))
    ]
    basic, top = (plan.json()["plan_id"] for plan in plans)
    body = {
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "plan_id": basic,
        "payment_method": "tok_visa",
    }
    created = await api.post(
        "/v1/subscriptions", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert created.status_code == 201, created.text
    url = f"/v1/subscriptions/{created.json()['subscription_id']}"
    async with asyncio.timeout(30):  # the first period is paid: a change now is prorated
        while True:
            periods = (await api.get(url)).json()["periods"]
            if periods and periods[-1]["status"] == "paid":
                break
            await asyncio.sleep(0.1)
    try:
        response = await api.post(f"{url}/change-plan", json={"plan_id": top})
        assert_problem(response, 422, "plan_change_not_supported", "to the maximum")
        assert (await api.get(url)).json()["plan"]["plan_id"] == basic
    finally:
        await api.post(f"{url}/cancel", json={})


def invoice_body(**overrides) -> dict:
    body = {
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "currency": "USD",
        "line_items": [{"description": "Widget", "quantity": 1, "unit_amount": 1999}],
        "due_at": "2030-01-01T00:00:00Z",
    }
    return body | overrides


@pytest.mark.parametrize("moment", [*FAR_DATES, "2200-01-01T00:00:00Z"])
async def test_invoice_dates_far_ahead_are_422(api, writes_nothing, moment):
    """An invoice's due and expiry dates are what its expiry and dunning schedule on."""
    created = await api.post("/v1/invoices", json=invoice_body())
    assert created.status_code == 201, created.text
    url = f"/v1/invoices/{created.json()['invoice_id']}"
    async with writes_nothing():
        for body in (
            invoice_body(due_at=moment),
            invoice_body(expires_at=moment),
        ):
            response = await api.post("/v1/invoices", json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
        for change in ({"due_at": moment}, {"expires_at": moment}):
            response = await api.patch(url, json=change)
            assert response.status_code == 422, (change, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
    assert (await api.get(url)).json()["due_at"].startswith("2030-01-01")


@pytest.mark.parametrize("moment", [FAR_DATES[0], "2200-01-01T00:00:00Z"])
async def test_a_subscription_starting_far_ahead_is_422(api, writes_nothing, moment):
    """Its start is what the first period's timer and every later period are counted from
    (bounded to a year ahead, far before any date a timer cannot reach)."""
    plan = await api.post(
        "/v1/plans", json={"name": "Pro", "amount": 1500, "currency": "USD", "interval": "year"}
    )
    body = {
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "plan_id": plan.json()["plan_id"],
        "payment_method": "tok_visa",
        "start_at": moment,
    }
    async with writes_nothing():
        response = await api.post(
            "/v1/subscriptions", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
