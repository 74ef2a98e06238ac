"""The development tenant of the embedded stack, created through the admin API."""

import httpx

# The embedded stack's tenant: payments made with the key it prints belong to it.
DEV_TENANT = "ten_default"


def bootstrap(api_url: str, admin_key: str, tenant_id: str = DEV_TENANT) -> str:
    """Create the tenant if it is missing and a new key for it; return the key's secret.

    A key's secret is shown once, so every start issues a fresh key (the earlier ones
    keep working until revoked).
    """
    headers = {"Authorization": f"Bearer {admin_key}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=30) as admin:
        created = admin.post("/v1/admin/tenants", json={"id": tenant_id, "name": "Development"})
        if created.status_code not in (201, 409):
            created.raise_for_status()
        key = admin.post(f"/v1/admin/tenants/{tenant_id}/keys")
        key.raise_for_status()
        return key.json()["secret"]
