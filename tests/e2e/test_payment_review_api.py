"""On the real stack: a new user adds a rule that sends payments above an amount to review,
finds that the Temporal CLI cannot decide one (the codec decodes only, and the worker refuses
plaintext), approves and rejects them through the API, and sees the decisions and fired rules
in each payment's state."""

import asyncio
import json
import subprocess
import uuid
from datetime import datetime
from datetime import timedelta

import httpx
from sqlmodel import Session
from sqlmodel import select

from api.api_keys import credential_fingerprint
from schemas.identity import payment_workflow_id
from schemas.store.tables import RiskLabelRecord
from tests.e2e.conftest import REVIEW_TIMEOUT_ACTION
from tests.e2e.conftest import REVIEW_TIMEOUT_HOURS
from tests.e2e.conftest import payment_body
from tests.e2e.conftest import wait_for_status
from workers.stack import NAMESPACE
from workers.stack import find_temporal_binary

REVIEW_FROM = 100_000
RULES = {
    "format": "paysaga.risk.rules/v1",
    "rules": [
        {
            "id": "large_payment",
            "action": "review",
            "description": "payments of 1,000.00 USD or more are reviewed",
            "when": [
                {"field": "currency", "op": "in", "values": ["USD"]},
                {"field": "amount", "op": "gte", "value": REVIEW_FROM},
            ],
        }
    ],
}


def idempotent(key: str | None = None) -> dict[str, str]:
    return {"Idempotency-Key": key or uuid.uuid4().hex}


async def held_payment(api: httpx.AsyncClient) -> dict:
    created = await api.post(
        "/v1/payments", json=payment_body(amount=250_000), headers=idempotent()
    )
    assert created.status_code in (201, 202), created.text
    return await wait_for_status(api, created.json()["payment_id"], "in_review")


async def approve_with_temporal_cli(
    stack, tenant_id: str, payment_id: str
) -> subprocess.CompletedProcess[str] | None:
    """The CLI's answer, or None when it had none within 15 s."""
    decision = {"decision": "approve", "reviewer": "alice", "reason": "known customer"}
    command = [
        find_temporal_binary(),
        "workflow",
        "update",
        "execute",
        "--name",
        "review",
        "--workflow-id",
        payment_workflow_id(tenant_id, payment_id),
        "--input",
        json.dumps(decision),
        "--address",
        stack.temporal_address,
        "--namespace",
        NAMESPACE,
        # The CLI would encode its input through the codec endpoint, which has no /encode:
        # it retries that call and never sends the update.
        "--codec-endpoint",
        f"{stack.api_url}/codec",
        "--codec-auth",
        f"Bearer {stack.codec_token}",
        "--output",
        "json",
    ]
    try:
        done = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=15, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    return done


def assert_decided_by_the_rule(state: dict) -> None:
    risk = state["risk"]
    assert (risk["action"], risk["rule"]) == ("review", "large_payment")
    assert [rule["id"] for rule in risk["fired"]] == ["large_payment"]
    assert risk["rules_version"] == 1
    assert 0 <= risk["score"] <= 1  # the stack's model scored it


async def test_a_new_user_reviews_payments_held_by_an_amount_rule(stack, tenant, gateway, admin):
    # A tenant of its own: no rules but the platform's yet.
    tenant_id, api = tenant
    (key,) = (await admin.get(f"/v1/admin/tenants/{tenant_id}/keys")).json()["data"]
    posted = await api.post("/v1/risk/rules", json=RULES, headers=idempotent())
    assert posted.status_code == 201, posted.text
    assert posted.json()["version"] == 1
    small = await api.post("/v1/payments", json=payment_body(amount=5_000), headers=idempotent())
    assert small.json()["status"] == "succeeded"
    first, second, third = [await held_payment(api) for _ in range(3)]
    for held in (first, second, third):
        assert_decided_by_the_rule(held)
        assert held["review"]["decision"] is None
        # The stack's configured policy (PAYSAGA_FRAUD__REVIEW_TIMEOUT[_ACTION]) applies.
        opened, deadline = (
            datetime.fromisoformat(held["review"][key]) for key in ("opened_at", "deadline")
        )
        assert deadline - opened == timedelta(hours=REVIEW_TIMEOUT_HOURS)
        assert held["review"]["timeout_action"] == REVIEW_TIMEOUT_ACTION
        assert (held["authorized_amount"], held["captured_amount"]) == (250_000, 0)

    refused = await approve_with_temporal_cli(stack, tenant_id, first["payment_id"])
    assert refused is None or refused.returncode != 0, refused.stdout
    still = (await api.get(f"/v1/payments/{first['payment_id']}")).json()
    assert (still["status"], still["review"]["decision"]) == ("in_review", None)
    approved_first = await api.post(
        f"/v1/payments/{first['payment_id']}/review",
        json={"decision": "approve", "reason": "known customer"},
        headers=idempotent(),
    )
    assert approved_first.status_code == 200, approved_first.text

    reject_key = uuid.uuid4().hex
    rejection = {"decision": "reject", "reason": "card reported stolen"}
    rejected = await api.post(
        f"/v1/payments/{second['payment_id']}/review",
        json=rejection,
        headers=idempotent(reject_key),
    )
    assert rejected.status_code == 200, rejected.text
    replayed = await api.post(
        f"/v1/payments/{second['payment_id']}/review",
        json=rejection,
        headers=idempotent(reject_key),
    )
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == rejected.json()

    approved = await api.post(
        f"/v1/payments/{third['payment_id']}/review",
        json={"decision": "approve", "reason": "verified by phone", "reviewer": "carol"},
        headers=idempotent(),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "succeeded"

    by_first = (await api.get(f"/v1/payments/{first['payment_id']}")).json()
    by_api = (await api.get(f"/v1/payments/{second['payment_id']}")).json()
    by_name = (await api.get(f"/v1/payments/{third['payment_id']}")).json()
    for state in (by_first, by_api, by_name):
        assert_decided_by_the_rule(state)
        assert state["review"]["decided_at"] >= state["review"]["opened_at"]

    assert (by_first["status"], by_first["captured_amount"]) == ("succeeded", 250_000)
    review = by_first["review"]
    assert (review["decision"], review["reviewer"], review["reason"], review["channel"]) == (
        "approve",
        f"api_key:{key['id']}",
        "known customer",
        "api",
    )

    assert (by_api["status"], by_api["failure_code"]) == ("declined", "review_rejected")
    review = by_api["review"]
    assert (review["decision"], review["reviewer"], review["reason"], review["channel"]) == (
        "reject",
        f"api_key:{key['id']}",
        "card reported stolen",
        "api",
    )
    charge = (await gateway.get(f"/v1/charges/{by_api['provider_reference']}")).json()
    assert charge["status"] == "voided"
    assert by_api["steps"][-1]["name"] == "void_authorization"

    # The reviewer is the credential that acted; the name the client gave is kept beside it.
    assert (by_name["status"], by_name["review"]["reviewer"]) == (
        "succeeded",
        f"api_key:{key['id']}",
    )
    assert by_name["review"]["reviewer_name"] == "carol"
    assert by_api["review"].get("reviewer_name") is None

    # Decided: a further decision is refused, and listing by status finds nothing held.
    again = await api.post(
        f"/v1/payments/{third['payment_id']}/review",
        json={"decision": "reject", "reason": "second thoughts"},
        headers=idempotent(),
    )
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state"
    held = await api.get("/v1/payments", params={"status": "in_review"})
    assert held.json()["data"] == []


async def test_review_of_a_payment_not_in_review_is_a_conflict(tenant):
    _, api = tenant
    created = await api.post(
        "/v1/payments", json=payment_body(capture_method="manual"), headers=idempotent()
    )
    payment_id = created.json()["payment_id"]
    await wait_for_status(api, payment_id, "requires_capture")

    refused = await api.post(
        f"/v1/payments/{payment_id}/review",
        json={"decision": "approve", "reason": "looks fine"},
        headers=idempotent(),
    )
    unknown = await api.post(
        f"/v1/payments/pay_{uuid.uuid4().hex[:24]}/review",
        json={"decision": "approve", "reason": "looks fine"},
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "invalid_state"
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "payment_not_found"
    canceled = await api.post(f"/v1/payments/{payment_id}/cancel", headers=idempotent())
    assert canceled.json()["status"] == "canceled"


async def test_an_operator_decides_a_tenants_payment_through_the_admin_api(
    stack, tenant, admin, stack_db
):
    tenant_id, api = tenant
    posted = await api.post("/v1/risk/rules", json=RULES, headers=idempotent())
    assert posted.status_code == 201, posted.text
    held = await held_payment(api)
    payment_id = held["payment_id"]
    path = f"/v1/admin/tenants/{tenant_id}/payments/{payment_id}/review"
    rejection = {"decision": "reject", "reason": "card reported stolen", "reviewer": "olga"}

    # On the admin credentials only, and under the payment's own tenant only.
    as_tenant = await api.post(path, json=rejection)
    assert as_tenant.status_code == 401, as_tenant.text
    assert as_tenant.json()["code"] == "invalid_admin_key"
    other = f"/v1/admin/tenants/ten_{uuid.uuid4().hex[:12]}/payments/{payment_id}/review"
    elsewhere = await admin.post(other, json=rejection)
    assert elsewhere.status_code == 404 and elsewhere.json()["code"] == "payment_not_found"

    key = uuid.uuid4().hex
    decided = await admin.post(path, json=rejection, headers=idempotent(key))
    assert decided.status_code == 200, decided.text
    replayed = await admin.post(path, json=rejection, headers=idempotent(key))
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == decided.json()

    state = (await api.get(f"/v1/payments/{payment_id}")).json()
    assert (state["status"], state["failure_code"]) == ("declined", "review_rejected")
    review = state["review"]
    # The reviewer is the admin credential that acted, as the admin audit names it.
    assert (review["decision"], review["reviewer"], review["channel"]) == (
        "reject",
        credential_fingerprint("admin_key", stack.admin_key),
        "operator",
    )
    assert (review["reason"], review["reviewer_name"]) == ("card reported stolen", "olga")
    # An operator's verdict is a label, but never of a sandbox payment, as this one is.
    assert state["provider"] == "sandbox"
    with Session(stack_db) as session:
        found = select(RiskLabelRecord).where(RiskLabelRecord.payment_id == payment_id)
        assert session.exec(found).all() == []

    again = await admin.post(path, json={"decision": "approve", "reason": "second thoughts"})
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    # The admin audit names the credential that decided, once (the replay is not a decision).
    audit = (await admin.get("/v1/admin/audit", params={"tenant_id": tenant_id})).json()
    reviews = [event for event in audit["data"] if event["action"] == "payment.reviewed"]
    assert [(e["actor"], e["credential"], e["detail"]) for e in reviews] == [
        ("admin", review["reviewer"], f"{payment_id}: reject")
    ]
