"""A chaos run from start to finish; the embedded stack is stopped whatever happens."""

import asyncio
import random
import shutil
import tempfile
import time
import uuid
from datetime import UTC
from datetime import datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape

from schemas.reconciliation import FindUnresolvedCommand
from schemas.runtime.settings import Settings
from schemas.runtime.temporal_client import connect
from schemas.store.database import make_engine
from workers.stack import EmbeddedStack
from workers.stack import free_stack_ports
from workers.tools.chaos.client import RetryingClient
from workers.tools.chaos.config import STACK_ENV
from workers.tools.chaos.config import ChaosConfig
from workers.tools.chaos.config import PaymentPlan
from workers.tools.chaos.config import plan_payments
from workers.tools.chaos.monkey import Monkey
from workers.tools.chaos.report import build_result
from workers.tools.chaos.report import ledger_imbalance
from workers.tools.chaos.traffic import drive_payment
from workers.tools.verification import verify_payments
from workflows.reconciliation.workflow import ReconciliationWorkflow

# An HTTP call may hang while the worker is down (an update waits for it): give up on the
# attempt and send it again with the same key.
ATTEMPT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def run_chaos(config: ChaosConfig, console: Console | None = None) -> dict:
    console = console or Console(stderr=True, highlight=False)
    temporary = config.data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="paysaga-chaos-")) if temporary else config.data_dir
    stack = EmbeddedStack(
        data_dir=data_dir,
        **free_stack_ports(),
        extra_env=dict(STACK_ENV),
        quiet=config.quiet,
    )
    say = (lambda _: None) if config.quiet else console.print
    t0 = time.monotonic()
    result: dict | None = None
    try:
        say(f"Starting the stack in {data_dir}")
        stack.start()
        result = asyncio.run(_drive(stack, config, say, t0))
        return result
    finally:
        stack.stop()
        if temporary and result is not None and result["ok"]:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            say(f"Data and logs kept in {escape(str(data_dir))}")


async def _drive(stack: EmbeddedStack, config: ChaosConfig, say, t0: float) -> dict:
    seeds = random.Random(config.seed)
    plans = plan_payments(config, random.Random(seeds.getrandbits(64)))
    chaos_rng, jitter_rng = (
        random.Random(seeds.getrandbits(64)),
        random.Random(seeds.getrandbits(64)),
    )
    violations: list[str] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with (
        httpx.AsyncClient(
            base_url=stack.api_url,
            timeout=ATTEMPT_TIMEOUT,
            limits=limits,
            headers=stack.api_headers,
        ) as http,
        httpx.AsyncClient(
            base_url=stack.gateway_url, timeout=30.0, headers=stack.gateway_headers
        ) as gateway,
    ):
        api = RetryingClient(http, jitter_rng, call_deadline=config.settle_seconds)
        monkey = Monkey(stack, config, chaos_rng, gateway, say)
        deadline = time.monotonic() + config.arrival_seconds + config.settle_seconds
        say(f"Driving {config.payments} payments at {config.rate:g}/s (seed {config.seed})")
        chaos = asyncio.create_task(monkey.run())
        traffic = asyncio.create_task(_traffic(plans, config, api, gateway, deadline))
        try:
            await chaos
        except Exception as exc:  # a child did not come back: the run cannot finish
            violations.append(f"chaos: {type(exc).__name__}: {exc}")
            traffic.cancel()
        try:
            await traffic
        except asyncio.CancelledError:
            pass
        done = sum(1 for p in plans if p.final is not None)
        say(f"{done}/{len(plans)} payments final after {time.monotonic() - t0:.1f}s; verifying")
        exited = stack.poll()
        violations += [
            f"{name} exited on its own with code {code}" for name, code in exited.items()
        ]
        gateway_stats = (await gateway.get("/v1/stats")).json()

    engine = make_engine(stack.database_url)
    try:
        client = await connect(stack.settings())
        verification = await verify_payments(
            [p.payment_id for p in plans if p.payment_id],
            client=client,
            gateway_url=stack.gateway_url,
            gateway_headers=stack.gateway_headers,
            engine=engine,
            tenant_id=Settings().default_tenant,
            settle_seconds=30,
        )
        violations += [f"{p.key} was never created" for p in plans if p.payment_id is None]
        imbalance = ledger_imbalance(engine)
        # After verification (which compares each saga's own end with the read model):
        # settle whatever ended requires_attention, then the day's books must agree.
        reconciled = await client.execute_workflow(
            ReconciliationWorkflow.run,
            FindUnresolvedCommand(),
            id=f"chaos-reconciliation-{uuid.uuid4().hex[:8]}",
            task_queue=stack.task_queue,
        )
        mismatches = await _reconciliation_mismatches(stack)
    finally:
        engine.dispose()
    return build_result(
        config=config,
        plans=plans,
        client=api.stats,
        chaos=monkey.stats,
        verification=verification,
        gateway_stats=gateway_stats,
        imbalance=imbalance,
        wall_seconds=time.monotonic() - t0,
        violations=violations + [f"reconciliation: {m}" for m in mismatches],
        reconciled=reconciled.model_dump(),
        reconciliation_mismatches=mismatches,
    )


async def _reconciliation_mismatches(stack: EmbeddedStack) -> list[dict]:
    """Today's report for the development tenant (every chaos payment is its)."""
    day = datetime.now(UTC).date().isoformat()
    async with httpx.AsyncClient(
        base_url=stack.api_url, timeout=120, headers=stack.api_headers
    ) as http:
        response = await http.get("/v1/reports/reconciliation", params={"date": day})
    if response.status_code != 200:
        return [{"problem": f"report answered {response.status_code}: {response.text[:200]}"}]
    return response.json()["mismatches"]


async def _traffic(
    plans: list[PaymentPlan],
    config: ChaosConfig,
    api: RetryingClient,
    gateway: httpx.AsyncClient,
    deadline: float,
) -> None:
    """Open loop: payment i starts at i / rate seconds, whether or not earlier ones ended."""
    start = time.monotonic()
    tasks = []
    try:
        for plan in plans:
            await asyncio.sleep(max(0.0, start + plan.index / config.rate - time.monotonic()))
            tasks.append(asyncio.create_task(drive_payment(plan, api, gateway, deadline)))
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
