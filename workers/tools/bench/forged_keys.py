"""``paysaga bench --forged-keys``: what a flood of forged API keys costs the API.

No stack: the API alone as its own process (``paysaga api``) on a fresh SQLite database,
with a tenant and its key made through the admin API. The failed-authentication throttle is
lifted, so every forgery reaches key verification: this measures verification, the worst
case, not the 429s that would cut the flood short. Then, one request after the other:

- a forged key for the live prefix, and one for an unknown prefix (the same cost: no
  timing oracle for live prefixes), as the ratio of their p50s;
- the legitimate key alone, then while ``--forgers`` clients send forged live-prefix keys
  at ``--forged-rate`` per second together (what an Argon2id check per forgery could not
  serve on one core), as the ratio of its p50s.

The command exits 1 when the flood more than doubles the legitimate request's p50 or the
two forgeries differ by more than half.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import httpx
from rich.console import Console

from schemas.store.database import make_engine
from schemas.store.database import upgrade
from workers.tools.bench.report import conclude
from workers.tools.bench.stats import Latency

ROUTE = "/v1/providers/health"  # a tenant's route that never reaches Temporal
FLOOD_RATIO_BOUND = 2.0
ORACLE_RATIO_BOUND = 1.5


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _forged(prefix: str | None = None) -> str:
    return f"sk_{prefix or secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"


async def _timed(client: httpx.AsyncClient, key: str, expected: int) -> float:
    started = time.perf_counter()
    response = await client.get(ROUTE, headers={"Authorization": f"Bearer {key}"})
    elapsed = time.perf_counter() - started
    if response.status_code != expected:
        raise RuntimeError(f"{ROUTE} answered {response.status_code}: {response.text[:200]}")
    return elapsed


async def _series(client: httpx.AsyncClient, make_key, expected: int, count: int) -> Latency:
    return Latency.of([await _timed(client, make_key(), expected) for _ in range(count)])


def _start_flood(url: str, prefix: str, forgers: int, rate: float) -> BaseProcess:
    """The forgers run in a process of their own: in the timing client's event loop, their
    requests would delay its own and the ratio would measure the client, not the API."""
    flood = multiprocessing.get_context("spawn").Process(
        target=_flood, args=(url, prefix, forgers, rate), daemon=True
    )
    flood.start()
    return flood


def _flood(url: str, prefix: str, forgers: int, rate: float) -> None:
    interval = forgers / rate  # each forger's pace, so that together they send ``rate``

    async def forge() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as forger:
            next_at = time.monotonic()
            while True:
                await forger.get(ROUTE, headers={"Authorization": f"Bearer {_forged(prefix)}"})
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def flood() -> None:
        await asyncio.gather(*(forge() for _ in range(forgers)))

    asyncio.run(flood())


async def _measure(url: str, admin_key: str, requests: int, forgers: int, rate: float) -> dict:
    admin = {"Authorization": f"Bearer {admin_key}"}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        tenant = await client.post("/v1/admin/tenants", json={"name": "Bench"}, headers=admin)
        key = await client.post(f"/v1/admin/tenants/{tenant.json()['id']}/keys", headers=admin)
        secret, prefix = key.json()["secret"], key.json()["prefix"]
        await _series(client, lambda: secret, 200, 20)  # warm up
        live = await _series(client, lambda: _forged(prefix), 401, requests)
        unknown = await _series(client, _forged, 401, requests)
        alone = await _series(client, lambda: secret, 200, requests)

        flood = _start_flood(url, prefix, forgers, rate)
        try:
            await asyncio.sleep(1.0)
            flooded = await _series(client, lambda: secret, 200, requests)
        finally:
            flood.terminate()
            flood.join(timeout=10)
    return {
        "forgers": forgers,
        "forged_rate": rate,
        "forged_live_prefix": live,
        "forged_unknown_prefix": unknown,
        "legitimate_alone": alone,
        "legitimate_under_flood": flooded,
        "oracle_ratio": round(live.p50 / unknown.p50, 2),
        "flood_ratio": round(flooded.p50 / alone.p50, 2),
    }


def main(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    with tempfile.TemporaryDirectory(prefix="paysaga-forged-keys-") as scratch:
        database_url = f"sqlite:///{Path(scratch) / 'paysaga.db'}"
        engine = make_engine(database_url)
        upgrade(engine)
        engine.dispose()
        admin_key, port = secrets.token_urlsafe(32), _free_port()
        env = os.environ | {
            "PAYSAGA_DATABASE_URL": database_url,
            "PAYSAGA_DATA_DIR": scratch,
            "PAYSAGA_TEMPORAL_ADDRESS": "127.0.0.1:1",
            "PAYSAGA_ADMIN_KEY": admin_key,
            "PAYSAGA_API_KEY_PEPPER": secrets.token_urlsafe(32),
            "PAYSAGA_AUTH_FAILURES_PER_PREFIX": "1000000",
            "PAYSAGA_AUTH_FAILURES_PER_ADDRESS": "1000000",
            "PAYSAGA_RATE_LIMIT_PER_SECOND": "100000",
            "PAYSAGA_RATE_LIMIT_BURST": "1000000",
            "PAYSAGA_LOG_LEVEL": "WARNING",
        }
        log_path = Path(scratch) / "api.log"
        log = log_path.open("wb")
        api = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workers.cli",
                "api",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=scratch,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(url, api, log_path)
            doc = asyncio.run(
                _measure(url, admin_key, args.forged_requests, args.forgers, args.forged_rate)
            )
        finally:
            api.terminate()
            try:
                api.wait(timeout=30)
            except subprocess.TimeoutExpired:
                api.kill()
                api.wait()
            log.close()
    for name in ("forged_live_prefix", "forged_unknown_prefix"):
        console.print(f"{name}: p50 {doc[name].p50} ms, p99 {doc[name].p99} ms")
    for name in ("legitimate_alone", "legitimate_under_flood"):
        console.print(f"{name}: p50 {doc[name].p50} ms, p99 {doc[name].p99} ms")
    console.print(f"live / unknown prefix p50: {doc['oracle_ratio']}x")
    console.print(
        f"legitimate p50 under {doc['forged_rate']:g} forged keys/s from {doc['forgers']} "
        f"clients / alone: {doc['flood_ratio']}x"
    )
    missed = []
    if doc["flood_ratio"] > FLOOD_RATIO_BOUND:
        missed.append(f"the flood made a legitimate request {doc['flood_ratio']}x slower")
    if not 1 / ORACLE_RATIO_BOUND <= doc["oracle_ratio"] <= ORACLE_RATIO_BOUND:
        missed.append(f"a live prefix costs {doc['oracle_ratio']}x an unknown one")
    return conclude(doc, args.out, missed, console)


def _wait_until_up(url: str, api: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.poll() is not None:
            said = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the API exited with {api.returncode}: {said}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the API did not come up")
