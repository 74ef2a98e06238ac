"""Connected accounts through the REST API, onboarded as their holder would: follow the
onboarding link the API gives, finish on the provider's page, and come back."""

import httpx

ONBOARDING_URLS = {
    "refresh_url": "https://platform.example/onboarding/expired",
    "return_url": "https://platform.example/onboarding/done",
}


async def onboarding_link(client: httpx.AsyncClient, account_id: str) -> dict:
    response = await client.post(
        f"/v1/connected-accounts/{account_id}/onboarding-link", json=ONBOARDING_URLS
    )
    assert response.status_code == 200, response.text
    return response.json()


async def onboard_at_sandbox(client: httpx.AsyncClient, account_id: str) -> dict:
    """The holder finishes the sandbox gateway's onboarding page (its button posts to
    ``…/onboarding/complete``); back at the platform, the account is refreshed (the
    sandbox sends no webhooks). The account as the API answers it after."""
    link = await onboarding_link(client, account_id)
    async with httpx.AsyncClient(timeout=10) as holder:
        finished = await holder.post(f"{link['url']}/complete")
    assert finished.status_code == 200, finished.text
    refreshed = await client.post(f"/v1/connected-accounts/{account_id}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    return refreshed.json()
