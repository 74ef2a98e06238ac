"""Risk rules through the REST API, on the real embedded stack: versions, the
empty start, validation, isolation between tenants, a posted rule deciding a payment, and
the platform's rules applying under every tenant's without being shown."""

import asyncio
import uuid

import httpx
import pytest

from schemas.risk_rules import FraudRules
from tests.e2e.conftest import PLATFORM_BLOCKED_CUSTOMER
from tests.e2e.conftest import payment_body
from tests.support.response_scan import RESPONSE_HOOKS
from tests.support.tenants import bearer
from tests.support.tenants import new_tenant
from tests.support.tenants import tenant_client

RULES = "/v1/risk/rules"
REVIEW_LARGE_USD = {
    "lists": {"vip_customers": ["cus_vip_1", "cus_vip_2"]},
    "rules": [
        {
            "id": "vip",
            "action": "allow",
            "when": [{"field": "customer_id", "op": "in", "list": "vip_customers"}],
        },
        {
            "id": "large_usd",
            "action": "review",
            "description": "large USD payments are looked at",
            "when": [
                {"field": "currency", "op": "in", "values": ["USD"]},
                {"field": "amount", "op": "gte", "value": 100_000},
            ],
        },
        {
            "id": "card_testing",
            "action": "block",
            "when": [
                {
                    "field": "velocity",
                    "by": "card_fingerprint",
                    "measure": "count",
                    "window": "PT10M",
                    "op": "gte",
                    "value": 5,
                }
            ],
        },
        {
            "id": "office_network",
            "action": "allow",
            "enabled": False,
            "when": [{"field": "ip_address", "op": "in", "values": ["10.0.0.0/8", "192.0.2.7"]}],
        },
        {
            "id": "risky",
            "action": "require_3ds",
            "when": [{"field": "score", "op": "gte", "value": 0.5}],
        },
    ],
}
BLOCK_LARGE = {
    "rules": [
        {
            "id": "big",
            "action": "block",
            "when": [{"field": "amount", "op": "gte", "value": 50_000}],
        }
    ]
}


def rule(**overrides) -> dict:
    return {
        "id": "r1",
        "action": "block",
        "when": [{"field": "amount", "op": "gt", "value": 1}],
    } | overrides


INVALID_DOCUMENTS = {
    "unknown top-level field": {"rules": [], "owner": "me"},
    "unknown rule field": {"rules": [rule(priority=1)]},
    "unknown condition field": {
        "rules": [rule(when=[{"field": "email", "op": "in", "values": ["a"]}])]
    },
    "undefined list": {
        "rules": [rule(when=[{"field": "customer_id", "op": "in", "list": "nowhere"}])]
    },
    "values and list both": {
        "lists": {"l": ["cus_1"]},
        "rules": [rule(when=[{"field": "customer_id", "op": "in", "values": ["a"], "list": "l"}])],
    },
    "duplicate rule ids": {"rules": [rule(id="same"), rule(id="same", action="review")]},
    "bad CIDR inline": {
        "rules": [rule(when=[{"field": "ip_address", "op": "in", "values": ["10.0.0.0/33"]}])]
    },
    "bad address in a list": {
        "lists": {"office": ["not-an-ip"]},
        "rules": [rule(when=[{"field": "ip_address", "op": "in", "list": "office"}])],
    },
    "card number in a list value": {
        "lists": {"cards": ["4242424242424242"]},
        "rules": [rule(when=[{"field": "card_fingerprint", "op": "in", "list": "cards"}])],
    },
    "card number in inline values": {
        "rules": [
            rule(when=[{"field": "customer_id", "op": "in", "values": ["4000 0566 5566 5556"]}])
        ]
    },
    "float amount": {"rules": [rule(when=[{"field": "amount", "op": "gte", "value": 100.5}])]},
    "integral float amount": {
        "rules": [rule(when=[{"field": "amount", "op": "gte", "value": 100.0}])]
    },
    "window too long": {
        "rules": [
            rule(
                when=[
                    {
                        "field": "velocity",
                        "by": "customer",
                        "measure": "count",
                        "window": "P31D",
                        "op": "gte",
                        "value": 3,
                    }
                ]
            )
        ]
    },
    "score above one": {"rules": [rule(when=[{"field": "score", "op": "gt", "value": 1.5}])]},
    "unknown action": {"rules": [rule(action="notify")]},
    "empty when": {"rules": [rule(when=[])]},
    "rule id not a slug": {"rules": [rule(id="Big Payments")]},
    "another format": {"format": "paysaga.risk.rules/v2", "rules": []},
}


def empty_document() -> dict:
    """What a tenant reads before it posts: no rules of its own, version 0."""
    return {"format": "paysaga.risk.rules/v1", "rules": [], "lists": {}, "version": 0}


def as_stored(document: dict, version: int) -> dict:
    """What the API answers for ``document``: defaults filled in, no nulls."""
    expected = {"format": "paysaga.risk.rules/v1", "lists": {}, **document, "version": version}
    expected["rules"] = [{"enabled": True, **r} for r in document["rules"]]
    return expected


def without_created_at(answer: httpx.Response) -> dict:
    document = answer.json()
    document.pop("created_at")
    return document


async def test_a_tenant_without_rules_reads_an_empty_version_zero(merchant):
    answer = await merchant.get(RULES)

    assert answer.status_code == 200, answer.text
    assert answer.json() == empty_document()
    assert (await merchant.get(RULES, params={"version": 0})).json() == empty_document()


async def test_the_platform_rules_are_never_shown_to_a_tenant(merchant):
    await merchant.post(RULES, json=BLOCK_LARGE)

    for answer in (
        await merchant.get(RULES),
        await merchant.get(RULES, params={"version": 0}),
        await merchant.get(RULES, params={"version": 1}),
    ):
        assert answer.status_code == 200, answer.text
        # Neither the platform's blocklists nor its ceilings and limits.
        assert PLATFORM_BLOCKED_CUSTOMER not in answer.text
        assert "tok_blocked" not in answer.text
        assert {r["id"] for r in answer.json()["rules"]} <= {"big"}
    assert (await merchant.get(RULES, params={"version": 0})).json() == empty_document()


async def test_each_post_is_the_next_version_and_the_newest_is_in_force(merchant):
    first = await merchant.post(RULES, json=REVIEW_LARGE_USD)
    assert first.status_code == 201, first.text
    assert first.headers["content-type"] == "application/json"
    assert without_created_at(first) == as_stored(REVIEW_LARGE_USD, 1)
    # No nulls: a member condition shows its values or its list, never both.
    assert "values" not in first.json()["rules"][0]["when"][0]

    second = await merchant.post(RULES, json=BLOCK_LARGE)
    assert second.status_code == 201, second.text
    assert without_created_at(second) == as_stored(BLOCK_LARGE, 2)
    assert second.json()["created_at"] >= first.json()["created_at"]

    assert (await merchant.get(RULES)).json() == second.json()
    assert (await merchant.get(RULES, params={"version": 2})).json() == second.json()
    assert (await merchant.get(RULES, params={"version": 1})).json() == first.json()
    assert (await merchant.get(RULES, params={"version": 0})).json() == empty_document()


async def test_a_missing_version_is_a_404_problem(merchant):
    await merchant.post(RULES, json=BLOCK_LARGE)

    missing = await merchant.get(RULES, params={"version": 2})

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "rule_set_not_found"
    negative = await merchant.get(RULES, params={"version": -1})
    assert (negative.status_code, negative.json()["code"]) == (422, "validation_error")


async def test_another_tenant_sees_its_own_empty_set_and_not_the_versions(stack, admin):
    (_, owner_key), (_, other_key) = await new_tenant(admin), await new_tenant(admin)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, event_hooks=RESPONSE_HOOKS
    ) as http:
        posted = await http.post(RULES, json=BLOCK_LARGE, headers=bearer(owner_key))
        assert posted.status_code == 201, posted.text

        other_current = await http.get(RULES, headers=bearer(other_key))
        other_version = await http.get(RULES, params={"version": 1}, headers=bearer(other_key))
        owner_missing = await http.get(RULES, params={"version": 2}, headers=bearer(owner_key))

        assert other_current.json() == empty_document()
        # Another tenant's version answers exactly like a version nobody stored.
        assert other_version.status_code == 404
        assert other_version.json() == owner_missing.json()
        assert (await http.get(RULES, headers=bearer(owner_key))).json() == posted.json()


async def test_an_idempotency_key_stores_one_version(merchant):
    key = {"Idempotency-Key": uuid.uuid4().hex}

    first = await merchant.post(RULES, json=BLOCK_LARGE, headers=key)
    again = await merchant.post(RULES, json=BLOCK_LARGE, headers=key)
    other_body = await merchant.post(RULES, json=REVIEW_LARGE_USD, headers=key)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (other_body.status_code, other_body.json()["code"]) == (422, "idempotency_mismatch")
    assert (await merchant.get(RULES)).json()["version"] == 1


async def test_concurrent_posts_each_get_their_own_version(merchant):
    answers = await asyncio.gather(*(merchant.post(RULES, json=BLOCK_LARGE) for _ in range(5)))

    assert [answer.status_code for answer in answers] == [201] * 5, [a.text for a in answers]
    assert sorted(answer.json()["version"] for answer in answers) == [1, 2, 3, 4, 5]
    assert (await merchant.get(RULES)).json()["version"] == 5


@pytest.mark.parametrize("document", INVALID_DOCUMENTS.values(), ids=INVALID_DOCUMENTS.keys())
async def test_an_invalid_document_is_a_422_problem_and_stores_nothing(merchant, document):
    stored = await merchant.post(RULES, json=BLOCK_LARGE)
    assert stored.status_code == 201, stored.text

    refused = await merchant.post(RULES, json=document)

    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "validation_error"
    assert refused.json()["errors"]
    # Nothing was stored: the same version is in force and no next one exists.
    assert (await merchant.get(RULES)).json() == stored.json()
    assert (await merchant.get(RULES, params={"version": 2})).status_code == 404


async def test_a_card_number_is_refused_without_being_echoed(merchant):
    refused = await merchant.post(
        RULES,
        json={
            "rules": [
                rule(when=[{"field": "customer_id", "op": "in", "values": ["4242424242424242"]}])
            ]
        },
    )

    assert refused.status_code == 422
    assert "4242" not in refused.text
    assert "card number" in refused.json()["detail"]


async def test_the_rules_need_a_tenant_key(anonymous):
    for answer in (
        await anonymous.get(RULES),
        await anonymous.post(RULES, json=BLOCK_LARGE),
        await anonymous.get(RULES, headers={"Authorization": "Bearer sk_nope"}),
    ):
        assert answer.status_code == 401
        assert answer.json()["code"] in {"missing_api_key", "invalid_api_key"}


async def test_a_posted_rule_decides_the_tenants_next_payment(stack, admin, merchant):
    posted = await merchant.post(RULES, json=BLOCK_LARGE)
    assert posted.status_code == 201, posted.text

    blocked = await pay(merchant, 60_000)
    below = await pay(merchant, 40_000)
    # Another tenant still runs under the default rules.
    async with tenant_client(stack, admin) as (_, other):
        elsewhere = await pay(other, 60_000)

    assert blocked.status_code == 201, blocked.text
    payment = blocked.json()
    assert (payment["status"], payment["failure_code"]) == ("declined", "fraud_big")
    assert payment["risk"]["action"] == "block"
    assert payment["risk"]["rule"] == "big"
    assert [fired["id"] for fired in payment["risk"]["fired"]] == ["big"]
    assert payment["risk"]["rules_version"] == 1
    assert below.json()["status"] == "succeeded", below.text
    assert below.json()["risk"]["fired"] == []
    assert elsewhere.json()["status"] == "succeeded", elsewhere.text
    assert elsewhere.json()["risk"]["rules_version"] == 0


ALLOW_EVERYONE = {
    "rules": [
        {
            "id": "everyone",
            "action": "allow",
            "when": [{"field": "amount", "op": "gte", "value": 0}],
        }
    ]
}


@pytest.mark.parametrize("document", [{"rules": []}, ALLOW_EVERYONE], ids=["empty", "allow-all"])
async def test_a_tenants_rules_never_lift_the_platform_floor(merchant, document):
    posted = await merchant.post(RULES, json=document)
    assert posted.status_code == 201, posted.text
    ceiling = FraudRules().amount_ceiling["USD"]

    blocklisted = await pay(merchant, 1999, customer_id=PLATFORM_BLOCKED_CUSTOMER)
    blocked_method = await pay(merchant, 1999, payment_method="tok_blocked")
    above_ceiling = await pay(merchant, ceiling + 1)
    fine = await pay(merchant, 1999)

    for answer, code in (
        (blocklisted, "fraud_blocked_customer"),
        (blocked_method, "fraud_blocked_payment_method"),
        (above_ceiling, "fraud_amount_ceiling_usd"),
    ):
        assert answer.status_code == 201, answer.text
        payment = answer.json()
        assert (payment["status"], payment["failure_code"]) == ("declined", code)
        assert payment["risk"]["rules_version"] == 1
    assert fine.json()["status"] == "succeeded", fine.text


async def pay(client: httpx.AsyncClient, amount: int, **overrides) -> httpx.Response:
    return await client.post(
        "/v1/payments",
        json=payment_body(amount=amount, **overrides),
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
