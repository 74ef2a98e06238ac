"""The whole embedded stack as child processes: dev server, gateway, worker, API."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator

import httpx
import pytest

from tests.support import embedded_stack
from tests.support.embedded_stack import api_client
from tests.support.ledger import assert_ledger_invariants
from tests.support.tenants import tenant_client
from workers.stack import EmbeddedStack

# Short timers so expiry scenarios finish in seconds on the real server.
HOLD_SECONDS = 8
ACTION_SECONDS = 8
# A review policy other than the default (24 h, reject), so tests see the settings applied.
REVIEW_TIMEOUT_HOURS = 6
REVIEW_TIMEOUT_ACTION = "approve"
# A day's reconciliation report is answered from the store for this long after its build.
REPORT_COOLDOWN_SECONDS = 2


# On the platform's blocklist: refused for every tenant, whatever its own rules say.
PLATFORM_BLOCKED_CUSTOMER = "cus_platform_blocked"

# The stack's database and its API with the development key (fixtures).
stack_db = embedded_stack.stack_db
api = embedded_stack.api


# Package scope: the stack stops once the e2e tests are done instead of idling (and holding
# ports) through the rest of the session.
@pytest.fixture(scope="package")
def stack(tmp_path_factory, risk_model_dir) -> Iterator[EmbeddedStack]:
    yield from embedded_stack.running_stack(
        tmp_path_factory.mktemp("stack"),
        risk_model_dir,
        {
            "PAYSAGA_AUTHORIZATION_HOLD": f"PT{HOLD_SECONDS}S",
            "PAYSAGA_ACTION_TIMEOUT": f"PT{ACTION_SECONDS}S",
            "PAYSAGA_FRAUD__REVIEW_TIMEOUT": f"PT{REVIEW_TIMEOUT_HOURS}H",
            "PAYSAGA_FRAUD__REVIEW_TIMEOUT_ACTION": REVIEW_TIMEOUT_ACTION,
            "PAYSAGA_FRAUD__BLOCKED_CUSTOMERS": f'["{PLATFORM_BLOCKED_CUSTOMER}"]',
            # A provider call slower than this is an OutcomeUnknown, retried with its key.
            "PAYSAGA_PROVIDER_TIMEOUT": "PT2S",
            "PAYSAGA_RECONCILIATION_REPORT_COOLDOWN": f"PT{REPORT_COOLDOWN_SECONDS}S",
            # The payments gauge is a snapshot: refreshed often, so tests wait little for it.
            "PAYSAGA_METRICS_REFRESH_INTERVAL": "PT0.5S",
            # Every e2e client is 127.0.0.1 and the contract fuzzing sends wrong keys by
            # design: one address's failures must not throttle the suite's good keys.
            "PAYSAGA_AUTH_FAILURES_PER_ADDRESS": "1000000",
            # The same for the admin API's lockout, which has limits of its own.
            "PAYSAGA_ADMIN_AUTH_FAILURES_PER_ADDRESS": "1000000",
            "PAYSAGA_ADMIN_AUTH_FAILURES_PER_CREDENTIAL": "1000000",
        },
    )


@pytest.fixture
async def admin(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stack, {"Authorization": f"Bearer {stack.admin_key}"}) as client:
        yield client


@pytest.fixture
async def anonymous(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(stack) as client:
        yield client


@pytest.fixture
async def tenant(stack, admin, stack_db) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """A tenant of its own and its client: what it reads is its own alone."""
    async with tenant_client(stack, admin) as tenant:
        yield tenant
    assert_ledger_invariants(stack_db)


@pytest.fixture
def merchant(tenant) -> httpx.AsyncClient:
    """The client of ``tenant`` alone."""
    return tenant[1]


@pytest.fixture
async def gateway(stack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=30, headers=stack.gateway_headers
    ) as client:
        yield client


def payment_body(**overrides) -> dict:
    body = {
        "amount": 1999,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "payment_method": "tok_visa",
    }
    body.update(overrides)
    return body


async def post_created(client: httpx.AsyncClient, path: str, body: dict) -> dict:
    """What a POST with a new Idempotency-Key creates (201)."""
    response = await client.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    return response.json()


async def create_payment(api: httpx.AsyncClient, key: str | None = None, **overrides):
    headers = {"Idempotency-Key": key or uuid.uuid4().hex}
    return await api.post("/v1/payments", json=payment_body(**overrides), headers=headers)


async def wait_for_status(api: httpx.AsyncClient, payment_id: str, status: str, seconds=30):
    async with asyncio.timeout(seconds):
        while True:
            state = (await api.get(f"/v1/payments/{payment_id}")).json()
            if state["status"] == status:
                return state
            await asyncio.sleep(0.1)
