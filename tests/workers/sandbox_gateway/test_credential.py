"""The gateway's credential: with a token set, everything but its health and the pages a
customer's browser opens (3-D Secure, onboarding) answers 401 without ``Authorization:
Bearer <token>``, so nothing else on the machine lists charges, injects faults or charges.
Through the real gateway process, over HTTP, and through the adapter the worker uses."""

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.providers.sandbox.adapter import SandboxGateway
from tests.activities.providers.commands import authorize_command
from tests.support.gateway import start_gateway
from tests.workers.sandbox_gateway.conftest import Gateway
from tests.workers.sandbox_gateway.conftest import charge_body
from tests.workers.sandbox_gateway.conftest import error_code
from tests.workers.sandbox_gateway.conftest import new_key

TOKEN = secrets.token_urlsafe(32)

# Every kind of endpoint a process without the token must not use: the listings, the
# operator's, money moving and the test helpers.
GUARDED = [
    ("GET", "/v1/charges?reference=pay_x", None),
    ("GET", "/v1/charges/ch_x", None),
    ("GET", "/v1/refunds", None),
    ("GET", "/v1/stats", None),
    ("GET", "/v1/balance", None),
    ("GET", "/v1/balance_transactions", None),
    ("GET", "/v1/faults", None),
    ("PUT", "/v1/faults", {"error_rate": 1.0}),
    ("DELETE", "/v1/faults", None),
    ("POST", "/v1/charges", charge_body()),
    ("POST", "/v1/refunds", {"charge": "ch_x"}),
    ("POST", "/v1/customers", {"reference": "cus_x"}),
    ("POST", "/v1/test_helpers/refunds/rf_x/fail", {}),
]


@pytest.fixture(scope="module")
def guarded_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("guarded") / "gateway.db"
    with start_gateway(db, token=TOKEN) as url:
        yield url


@pytest.fixture
def holder(guarded_url: str) -> Iterator[Gateway]:
    """A client that sends the token, as the worker's adapter does."""
    client = Gateway(guarded_url, token=TOKEN)
    yield client
    client.close()


@pytest.mark.parametrize(("method", "path", "body"), GUARDED)
@pytest.mark.parametrize(
    "credential",
    [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN],
    ids=["none", "wrong-token", "other-scheme", "no-scheme"],
)
def test_without_the_token_every_endpoint_answers_401(
    guarded_url: str, method: str, path: str, body: dict | None, credential: str | None
) -> None:
    headers = {"Idempotency-Key": new_key()}
    if credential is not None:
        headers["Authorization"] = credential
    response = httpx.request(method, guarded_url + path, json=body, headers=headers, timeout=10)
    assert response.status_code == 401, response.text
    assert error_code(response) == "authentication_required"
    assert response.headers["www-authenticate"] == "Bearer"


def test_nothing_was_applied_by_the_refused_requests(holder: Gateway) -> None:
    httpx.put(f"{holder.base_url}/v1/faults", json={"error_rate": 1.0}, timeout=10)
    assert holder.http.get("/v1/faults").json()["error_rate"] == 0.0
    assert "cus_test" not in str(holder.stats())


def test_with_the_token_the_gateway_answers(holder: Gateway) -> None:
    charge = holder.authorized(capture=True)
    assert holder.get(charge["id"]).json()["status"] == "captured"
    assert holder.stats()["charges_by_reference"][charge["reference"]] == 1
    assert holder.set_faults(latency_ms=1)["latency_ms"] == 1
    assert holder.http.delete("/v1/faults").status_code == 200


def test_health_and_the_customers_pages_need_no_token(holder: Gateway) -> None:
    anonymous = httpx.Client(base_url=holder.base_url, timeout=10)
    charge = holder.charge("tok_threeDSecureRequired").json()
    account = holder.post("/v1/accounts", {"reference": new_key("acct")}, key=new_key()).json()
    try:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get(f"/v1/charges/{charge['id']}/3ds").status_code == 200
        done = anonymous.post(f"/v1/charges/{charge['id']}/3ds/complete", json={"outcome": "fail"})
        assert done.status_code == 200, done.text
        assert anonymous.get(f"/v1/accounts/{account['id']}/onboarding").status_code == 200
        onboarded = anonymous.post(f"/v1/accounts/{account['id']}/onboarding/complete")
        assert onboarded.status_code == 200, onboarded.text
        # A path that only starts like a page's is not one.
        assert anonymous.get(f"/v1/charges/{charge['id']}/3ds/x").status_code == 401
    finally:
        anonymous.close()


async def test_the_adapter_charges_with_the_token_and_is_refused_without(
    guarded_url: str, holder: Gateway
) -> None:
    async with SandboxGateway(guarded_url, timeout_seconds=5, token=TOKEN) as adapter:
        command = authorize_command("sandbox", "tok_visa", capture=True)
        charged = await adapter.authorize(command)
        assert charged.status == "captured"
    assert holder.stats()["charges_by_reference"][command.payment_id] == 1

    async with SandboxGateway(guarded_url, timeout_seconds=5) as anonymous:
        command = authorize_command("sandbox", "tok_visa", capture=True)
        with pytest.raises(ApplicationError) as refused:
            await anonymous.authorize(command)
    assert refused.value.non_retryable and "401" in str(refused.value)
    assert command.payment_id not in holder.stats()["charges_by_reference"]


def run_gateway(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin"}
    if token is not None:
        env["PAYSAGA_SANDBOX_GATEWAY_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "workers.sandbox_gateway", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_a_non_loopback_bind_without_a_token_is_refused(tmp_path: Path) -> None:
    result = run_gateway("--host", "0.0.0.0", "--port", "1", "--db", str(tmp_path / "g.db"))
    assert result.returncode != 0
    assert "PAYSAGA_SANDBOX_GATEWAY_TOKEN" in result.stderr, result.stderr
    assert not (tmp_path / "g.db").exists()
