"""A Temporal that never answers: requests end in 503 request_timeout, none piles up.

The API runs as its own uvicorn process with a 1 s request timeout, pointed at a socket
that accepts connections and never says a word (a hung server, not a refused port).
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator

import httpx
import pytest

from schemas.store.database import upgrade
from tests.e2e.conftest import payment_body
from tests.support.response_scan import RESPONSE_HOOKS
from workers.stack import free_port


@pytest.fixture(scope="module")
def silent_temporal() -> Iterator[str]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


@pytest.fixture(scope="module")
def slow_api_url(silent_temporal, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("slow-api")
    env = {
        **os.environ,
        "PAYSAGA_DATABASE_URL": f"sqlite:///{data / 'paysaga.db'}",
        "PAYSAGA_TEMPORAL_ADDRESS": silent_temporal,
        "PAYSAGA_EMBEDDED": "true",
        "PAYSAGA_AUTH_REQUIRED": "false",
        "PAYSAGA_REQUEST_TIMEOUT": "PT1S",
        "PAYSAGA_CREATE_WAIT": "PT0.5S",
    }
    cmd = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port)]
    log = (data / "api.log").open("wb")
    upgrade(env["PAYSAGA_DATABASE_URL"])  # deployments migrate before the API starts
    child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert child.poll() is None, (data / "api.log").read_text()
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.1)
        yield url
    finally:
        child.terminate()
        child.wait(10)
        log.close()


@pytest.fixture
async def slow_api(slow_api_url) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=slow_api_url, timeout=15, event_hooks=RESPONSE_HOOKS
    ) as client:
        yield client


def assert_timed_out(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "request_timeout"
    assert response.headers["Retry-After"] == "1"


async def test_requests_waiting_on_a_hung_temporal_end_in_503(slow_api):
    reads = await asyncio.gather(
        *(slow_api.get(f"/v1/payments/pay_{uuid.uuid4().hex[:24]}") for _ in range(20))
    )
    for response in reads:
        assert_timed_out(response)
    # The server is not stuck behind them.
    assert (await slow_api.get("/healthz")).status_code == 200


async def test_a_timed_out_payment_frees_its_idempotency_key_for_the_retry(slow_api):
    key = {"Idempotency-Key": f"hung-{uuid.uuid4().hex}"}
    body = payment_body()
    first = await slow_api.post("/v1/payments", json=body, headers=key)
    retry = await slow_api.post("/v1/payments", json=body, headers=key)
    # Not 409 idempotency_in_progress: the cancelled request released the key.
    assert_timed_out(first)
    assert_timed_out(retry)
