"""Another tenant's resources answer exactly like missing ones, on every route.

The routes come from the app's own OpenAPI document, so a route added later is covered (or
fails this test until it is classified below) without anyone remembering to add it.
"""

import json
import re
import uuid
from datetime import UTC
from datetime import datetime

import httpx
import pytest

from api.app import create_app
from schemas.disputes import DisputeState
from schemas.disputes import DisputeStatus
from schemas.identity import webhook_delivery_id
from schemas.runtime.settings import Settings
from schemas.store.events import write_event
from schemas.store.read_model import DISPUTES
from schemas.store.tables import WebhookDeliveryRecord
from tests.support.connected_accounts import ONBOARDING_URLS
from tests.support.connected_accounts import onboard_at_sandbox
from tests.support.response_scan import RESPONSE_HOOKS
from tests.support.tenants import PAYMENT
from tests.support.tenants import bearer
from tests.support.tenants import new_tenant

# Routes outside tenant data: health probes and the admin API (its own key, its own tests).
# Webhooks authenticate by the provider's signature; provider health is platform-wide.
NOT_TENANT_DATA = re.compile(r"^/(healthz|readyz)$|^/v1/(admin|webhooks|providers)/")
# Path parameters that name a tenant's resource, and the prefix of their ids.
RESOURCE_PARAMS = {
    "payment_id": "pay",
    "refund_id": "re",
    "account_id": "acct",
    "payout_id": "po",
    "invoice_id": "inv",
    "installment_plan_id": "ip",
    "plan_id": "plan",
    "subscription_id": "sub",
    "dispute_id": "dsp",
    "customer_id": "cust",
    "payment_method_id": "spm",
    "endpoint_id": "we",
    "delivery_id": "whd",
    "event_id": "evt",
}
DUE = "2031-01-15T00:00:00Z"
INVOICE = {
    "customer_id": "cus_isolation",
    "currency": "USD",
    "line_items": [{"description": "Seat", "quantity": 2, "unit_amount": 1_500, "tax_rate": "0.1"}],
    "due_at": DUE,
}
PLAN = {"name": "Monthly", "amount": 1_000, "currency": "USD", "interval": "month"}


# Valid bodies where the body is checked before the resource (the rest send none).
BODIES = {
    ("POST", "/v1/payments"): PAYMENT,
    ("PUT", "/v1/connected-accounts/{account_id}/payout-schedule"): {
        "interval": "daily",
        "minimum_amount": 100,
        "currency": "USD",
    },
    ("POST", "/v1/connected-accounts/{account_id}/onboarding-link"): ONBOARDING_URLS,
    ("PATCH", "/v1/invoices/{invoice_id}"): {"due_at": DUE},
    ("POST", "/v1/invoices/{invoice_id}/pay"): {"payment_method": "tok_visa"},
    ("POST", "/v1/installment-plans/{installment_plan_id}/payments"): {"amount": 100},
    ("POST", "/v1/installment-plans/{installment_plan_id}/resolve"): {"action": "waive"},
    ("POST", "/v1/subscriptions/{subscription_id}/payment-method"): {"payment_method": "tok_visa"},
    ("POST", "/v1/disputes/{dispute_id}/evidence"): {"uncategorized_text": "We shipped it."},
    ("PATCH", "/v1/customers/{customer_id}"): {"name": "Someone"},
    ("POST", "/v1/customers/{customer_id}/payment-methods"): {"payment_method": "tok_visa"},
    ("PATCH", "/v1/webhook-endpoints/{endpoint_id}"): {"description": "Orders"},
    ("POST", "/v1/subscriptions/{subscription_id}/change-plan"): {
        "plan_id": "plan_000000000000000000000000"
    },
}


def tenant_routes() -> list[tuple[str, str]]:
    """Every (method, path) the app serves, from its OpenAPI document."""
    paths = create_app(Settings()).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in sorted(paths.items())
        if not NOT_TENANT_DATA.search(path)
        for method in sorted(operations)
    ]


ROUTES = tenant_routes()


def test_every_path_parameter_is_a_known_tenant_resource():
    params = {p for _, path in ROUTES for p in re.findall(r"{(\w+)}", path)}
    unknown = params - set(RESOURCE_PARAMS)
    assert not unknown, f"classify these in {__file__}: {unknown}"
    assert any("{payment_id}" in path for _, path in ROUTES)


def stored_dispute(engine, tenant_id: str, payment_id: str) -> str:
    """A dispute of the tenant's, as its saga would have written it (the sandbox has none)."""
    now = datetime.now(UTC)
    dispute = DisputeState(
        dispute_id=f"dsp_{uuid.uuid4().hex[:24]}",
        tenant_id=tenant_id,
        payment_id=payment_id,
        provider="sandbox",
        provider_reference=f"dp_{uuid.uuid4().hex[:24]}",
        amount=5_000,
        currency="USD",
        status=DisputeStatus.NEEDS_RESPONSE,
        created_at=now,
        updated_at=now,
    )
    with engine.begin() as connection:
        DISPUTES.upsert(connection, dispute)
    return dispute.dispute_id


def stored_event(engine, tenant_id: str, payment_id: str) -> str:
    with engine.begin() as connection:
        return write_event(
            connection,
            tenant_id,
            "payment.succeeded",
            "payment",
            payment_id,
            datetime.now(UTC),
            json.dumps({"payment_id": payment_id}),
        )


def stored_delivery(engine, tenant_id: str, endpoint_id: str, event_id: str) -> str:
    """A failed delivery of the tenant's, as its saga would have left it."""
    delivery_id = webhook_delivery_id(endpoint_id, event_id)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            WebhookDeliveryRecord.__table__.insert().values(
                delivery_id=delivery_id,
                tenant_id=tenant_id,
                endpoint_id=endpoint_id,
                event_id=event_id,
                event_type="payment.succeeded",
                status="failed",
                attempts=0,
                created_at=now,
                updated_at=now,
            )
        )
    return delivery_id


@pytest.fixture(scope="module")
async def two_tenants(stack, stack_db):
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=headers, event_hooks=RESPONSE_HOOKS
    ) as admin:
        owner = await new_tenant(admin)
        other = await new_tenant(admin)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, event_hooks=RESPONSE_HOOKS
    ) as http:

        async def create(path: str, body: dict) -> dict:
            headers = {**bearer(owner[1]), "Idempotency-Key": uuid.uuid4().hex}
            response = await http.post(path, json=body, headers=headers)
            assert response.status_code == 201, response.text
            return response.json()

        captured = await create("/v1/payments", {**PAYMENT, "amount": 5_000})
        refund = await create(f"/v1/payments/{captured['payment_id']}/refunds", {"amount": 100})
        account = await create(
            "/v1/connected-accounts", {"name": "Seller", "bank_account": "ba_ok"}
        )
        async with httpx.AsyncClient(
            base_url=stack.api_url, timeout=60, headers=bearer(owner[1])
        ) as as_owner:
            await onboard_at_sandbox(as_owner, account["account_id"])
        payout = await create(
            "/v1/payouts",
            {"connected_account": account["account_id"], "amount": 100, "currency": "USD"},
        )
        invoice = await create("/v1/invoices", INVOICE)
        installments = await create(
            "/v1/installment-plans",
            {
                "amount": 3_000,
                "currency": "USD",
                "customer_id": "cus_isolation",
                "payment_method": "tok_visa",
                "count": 3,
                "interval": "month",
                "first_due_at": DUE,
            },
        )
        plan = await create("/v1/plans", PLAN)
        subscription = await create(
            "/v1/subscriptions",
            {
                "customer_id": "cus_isolation",
                "plan_id": plan["plan_id"],
                "payment_method": "tok_visa",
            },
        )
        customer = await create("/v1/customers", {"name": "Ada"})
        saved = await create(
            f"/v1/customers/{customer['customer_id']}/payment-methods",
            {"payment_method": "tok_visa"},
        )
        endpoint = await create("/v1/webhook-endpoints", {"url": "https://hooks.example.com/h"})
    event_id = stored_event(stack_db, owner[0], captured["payment_id"])
    owned = {
        "customer_id": customer["customer_id"],
        "payment_method_id": saved["payment_method_id"],
        "refund_id": refund["refund_id"],
        "account_id": account["account_id"],
        "payout_id": payout["payout_id"],
        "invoice_id": invoice["invoice_id"],
        "installment_plan_id": installments["installment_plan_id"],
        "plan_id": plan["plan_id"],
        "subscription_id": subscription["subscription_id"],
        "dispute_id": stored_dispute(stack_db, owner[0], captured["payment_id"]),
        "endpoint_id": endpoint["id"],
        "event_id": event_id,
        "delivery_id": stored_delivery(stack_db, owner[0], endpoint["id"], event_id),
    }
    return owner, other, owned


@pytest.fixture
async def owned(stack, two_tenants) -> dict[str, str]:
    """The owner's resources, with a payment held for this case alone: the end-to-end stack
    holds an authorization for seconds only, and each case checks it is still held after."""
    owner, _, resources = two_tenants
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, event_hooks=RESPONSE_HOOKS
    ) as http:
        response = await http.post(
            "/v1/payments",
            # A customer of its own: one customer's payments in a row meet the velocity rule.
            json={**PAYMENT, "capture_method": "manual", "customer_id": f"cus_{uuid.uuid4().hex}"},
            headers={**bearer(owner[1]), "Idempotency-Key": uuid.uuid4().hex},
        )
    assert response.status_code == 201, response.text
    return resources | {"payment_id": response.json()["payment_id"]}


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_another_tenants_resource_is_indistinguishable_from_a_missing_one(
    stack, two_tenants, owned, method, path
):
    owner, other, _ = two_tenants
    params = re.findall(r"{(\w+)}", path)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, event_hooks=RESPONSE_HOOKS
    ) as http:

        async def call(tenant_key: dict, ids: dict[str, str]) -> httpx.Response:
            url = path
            for param, resource_id in ids.items():
                url = url.replace(f"{{{param}}}", resource_id)
            return await http.request(
                method,
                url,
                headers={**bearer(tenant_key), "Idempotency-Key": uuid.uuid4().hex},
                json=BODIES.get((method, path)),
            )

        if params:
            foreign = await call(other[1], {p: owned[p] for p in params})
            missing = await call(
                other[1], {p: f"{RESOURCE_PARAMS[p]}_{uuid.uuid4().hex[:24]}" for p in params}
            )
            assert foreign.status_code == missing.status_code == 404, foreign.text
            assert foreign.json() == missing.json()
        else:
            # Lists and creations: nothing of the owner's shows up for the other tenant.
            response = await call(other[1], {})
            assert response.status_code < 500, response.text
            for resource_id in owned.values():
                assert resource_id not in response.text
        # The owner still sees its payment, untouched.
        own = await http.get(f"/v1/payments/{owned['payment_id']}", headers=bearer(owner[1]))
        assert own.status_code == 200 and own.json()["status"] == "requires_capture"
