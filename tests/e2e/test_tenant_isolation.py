"""Another tenant's resources answer exactly like missing ones, on every route.

The routes come from the app's own OpenAPI document, so a route added later is covered (or
fails this test until it is classified below) without anyone remembering to add it.
"""

import re
import uuid

import httpx
import pytest

from api.app import create_app
from schemas.settings import Settings
from tests.support.response_scan import RESPONSE_HOOKS
from tests.support.tenants import PAYMENT, bearer, new_tenant

# Routes outside tenant data: health probes and the admin API (its own key, its own tests).
NOT_TENANT_DATA = re.compile(r"^/(healthz|readyz)$|^/v1/admin/")
# Path parameters that name a tenant's resource, and how to make one for the test.
RESOURCE_PARAMS = {"payment_id"}


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
    assert params <= RESOURCE_PARAMS, f"classify these in {__file__}: {params - RESOURCE_PARAMS}"
    assert any("{payment_id}" in path for _, path in ROUTES)


@pytest.fixture(scope="module")
async def two_tenants(stack):
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, headers=headers, event_hooks=RESPONSE_HOOKS
    ) as admin:
        owner = await new_tenant(admin)
        other = await new_tenant(admin)
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, event_hooks=RESPONSE_HOOKS
    ) as http:
        paid = await http.post(
            "/v1/payments",
            json={**PAYMENT, "capture_method": "manual"},
            headers={**bearer(owner[1]), "Idempotency-Key": "isolation"},
        )
        assert paid.status_code == 201, paid.text
    return owner, other, paid.json()["payment_id"]


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_another_tenants_resource_is_indistinguishable_from_a_missing_one(
    stack, two_tenants, method, path
):
    owner, other, payment_id = two_tenants
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=60, event_hooks=RESPONSE_HOOKS
    ) as http:

        async def call(tenant_key: dict, resource_id: str) -> httpx.Response:
            return await http.request(
                method,
                path.replace("{payment_id}", resource_id),
                headers={**bearer(tenant_key), "Idempotency-Key": uuid.uuid4().hex},
                json=PAYMENT if (method, path) == ("POST", "/v1/payments") else None,
            )

        if "{payment_id}" in path:
            foreign = await call(other[1], payment_id)
            missing = await call(other[1], f"pay_{uuid.uuid4().hex[:24]}")
            assert foreign.status_code == missing.status_code == 404, foreign.text
            assert foreign.json() == missing.json()
        else:
            # Lists and creations: nothing of the owner's shows up for the other tenant.
            response = await call(other[1], payment_id)
            assert response.status_code < 500, response.text
            assert payment_id not in response.text
        # The owner still sees its payment, untouched.
        own = await http.get(f"/v1/payments/{payment_id}", headers=bearer(owner[1]))
        assert own.status_code == 200 and own.json()["status"] == "requires_capture"
