"""The embedded stack with real provider adapters: Stripe on localstripe, PayPal on the fake
PayPal server, and routing rules that send some payments to each (with failover).

Its own stack, so breaker and fault experiments never touch the other end-to-end tests.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stripe

from tests.support import embedded_stack
from tests.support import provider_servers
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from workers.stack import EmbeddedStack

STRIPE_WEBHOOK_SECRET = "whsec_paysaga_provider_tests"
# The Connect endpoint's: connected accounts' events (payouts) are signed with it.
STRIPE_CONNECT_WEBHOOK_SECRET = "whsec_paysaga_provider_tests_connect"
PAYPAL_WEBHOOK_ID = "WH-PAYSAGA-TESTS"
BREAKER_THRESHOLD = 3
BREAKER_OPEN_SECONDS = 4
ROUTING = {
    "rules": [
        # Card payments in GBP: the sandbox first, Stripe when it is unavailable.
        {"currency": "GBP", "providers": ["sandbox", "stripe"]},
        {"currency": "EUR", "providers": ["stripe"]},
        {"payment_method_type": "paypal", "providers": ["paypal"]},
    ],
    "default": ["sandbox"],
}


# The provider servers behind the stack (fixtures).
localstripe = provider_servers.localstripe
stripe_api = provider_servers.stripe_api
stripe_connect = provider_servers.stripe_connect
paypal = provider_servers.paypal
# The stack's database and its API with the development key (fixtures).
stack_db = embedded_stack.stack_db
api = embedded_stack.api


@pytest.fixture(scope="package")
def stack(
    tmp_path_factory, stripe_api, stripe_connect, paypal, risk_model_dir
) -> Iterator[EmbeddedStack]:
    yield from embedded_stack.running_stack(
        tmp_path_factory.mktemp("provider-stack"),
        risk_model_dir,
        {
            "PAYSAGA_STRIPE_API_KEY": LOCALSTRIPE_API_KEY,
            "PAYSAGA_STRIPE_API_BASE": stripe_api,
            # localstripe has no Connect: accounts, transfers and payouts go to the fake.
            "PAYSAGA_STRIPE_CONNECT_API_BASE": stripe_connect,
            "PAYSAGA_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "PAYSAGA_STRIPE_CONNECT_WEBHOOK_SECRET": STRIPE_CONNECT_WEBHOOK_SECRET,
            "PAYSAGA_PAYPAL_CLIENT_ID": paypal.client_id,
            "PAYSAGA_PAYPAL_CLIENT_SECRET": paypal.client_secret,
            "PAYSAGA_PAYPAL_BASE_URL": paypal.url,
            "PAYSAGA_PAYPAL_WEBHOOK_ID": PAYPAL_WEBHOOK_ID,
            "PAYSAGA_ROUTING": json.dumps(ROUTING),
            "PAYSAGA_BREAKER_FAILURE_THRESHOLD": str(BREAKER_THRESHOLD),
            "PAYSAGA_BREAKER_OPEN_FOR": f"PT{BREAKER_OPEN_SECONDS}S",
            "PAYSAGA_PROVIDER_TIMEOUT": "PT2S",
            "PAYSAGA_ACTION_TIMEOUT": "PT120S",
        },
    )


@pytest.fixture
async def webhooks(stack) -> AsyncIterator[httpx.AsyncClient]:
    """No API key: a webhook authenticates by its signature alone."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=60) as client:
        yield client


@pytest.fixture
async def sandbox(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=stack.gateway_headers
    ) as client:
        yield client
        await client.delete("/v1/faults")


async def pay(api: httpx.AsyncClient, **body: Any) -> httpx.Response:
    request = {"amount": 1999, "currency": "USD", "customer_id": f"cus_{uuid.uuid4().hex[:8]}"}
    request.update(body)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    return await api.post("/v1/payments", json=request, headers=headers)


async def refund_payment(api: httpx.AsyncClient, payment_id: str, amount: int) -> httpx.Response:
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    return await api.post(
        f"/v1/payments/{payment_id}/refunds", json={"amount": amount}, headers=headers
    )


async def wait_for_status(api: httpx.AsyncClient, payment_id: str, *statuses: str, seconds=60):
    async with asyncio.timeout(seconds):
        while True:
            state = (await api.get(f"/v1/payments/{payment_id}")).json()
            if state["status"] in statuses:
                return state
            await asyncio.sleep(0.1)


def stripe_event(event_type: str, data_object: dict, *, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": data_object},
    }


def stripe_delivery(event: dict, *, timestamp: int | None = None, secret=STRIPE_WEBHOOK_SECRET):
    """Body and headers exactly as Stripe signs a delivery (the SDK's own helper)."""
    body = json.dumps(event)
    timestamp = int(time.time()) if timestamp is None else timestamp
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"}


async def stripe_object(localstripe: str, path: str) -> dict:
    async with httpx.AsyncClient(base_url=localstripe, timeout=10) as http:
        response = await http.get(path, auth=(LOCALSTRIPE_API_KEY, ""))
        response.raise_for_status()
        return response.json()
