"""Per-tenant rate limits through the real API: a token bucket, 429 with Retry-After."""

import asyncio

from tests.support.tenants import bearer
from tests.support.tenants import new_tenant


async def test_a_tenant_over_its_own_limit_gets_429_and_others_do_not(admin, anonymous, api):
    tenant_id, key = await new_tenant(admin)
    limit_path = f"/v1/admin/tenants/{tenant_id}/rate-limit"
    default = (await admin.get(limit_path)).json()
    assert (default["source"], default["burst"]) == ("default", 200)

    limited = await admin.put(limit_path, json={"per_second": 1, "burst": 3})
    assert limited.json() == {
        "tenant_id": tenant_id,
        "per_second": 1.0,
        "burst": 3,
        "source": "tenant",
    }

    answers = [(await anonymous.get("/v1/payments", headers=bearer(key))) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 2

    # Another tenant's bucket is its own.
    assert (await api.get("/v1/payments")).status_code == 200
    await asyncio.sleep(retry_after)
    assert (await anonymous.get("/v1/payments", headers=bearer(key))).status_code == 200

    audit = (await admin.get("/v1/admin/audit", params={"tenant_id": tenant_id})).json()["data"]
    assert [e["action"] for e in audit][-1] == "tenant.rate_limit_set"
    assert audit[-1]["detail"] == "1/s, burst 3"


async def test_rate_limits_are_validated_and_unknown_tenants_are_404(admin):
    tenant_id, _ = await new_tenant(admin)
    path = f"/v1/admin/tenants/{tenant_id}/rate-limit"
    for bad in (
        {"per_second": 0, "burst": 1},
        {"per_second": 1},
        {"per_second": 1, "burst": 0},
        {"per_second": 1, "burst": 1, "extra": True},
    ):
        response = await admin.put(path, json=bad)
        assert response.status_code == 422, bad
    missing = await admin.put(
        "/v1/admin/tenants/ten_missing/rate-limit", json={"per_second": 1, "burst": 1}
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "tenant_not_found")
