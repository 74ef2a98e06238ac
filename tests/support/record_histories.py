"""Record the main scenarios' histories for the replay test.

Run after a deliberate, patched change to the workflow:
``python -m tests.support.record_histories [SCENARIO ...]`` (default: all). Record only the
new scenarios: the old files are what proves that running workflows still replay. Each
scenario runs on the real dev server with the real activities and gateway.
"""

import asyncio
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import httpx
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from schemas.database import create_schema, make_engine
from schemas.payments import CaptureRequest, PaymentStatus
from schemas.settings import Settings
from tests.support.gateway import start_gateway
from tests.support.payments import payment_input, start_payment, wait_for_status
from tests.support.worker import running_worker
from workflows import search_attributes
from workflows.payment import PaymentWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"


async def automatic_capture(client, settings, gateway):
    return await start_payment(client, settings, payment_input())


async def manual_partial_capture(client, settings, gateway):
    handle = await start_payment(client, settings, payment_input(capture_method="manual"))
    await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)
    await handle.execute_update(PaymentWorkflow.capture, CaptureRequest(amount=1000))
    return handle


async def capture_failure_voids(client, settings, gateway):
    return await start_payment(client, settings, payment_input(payment_method="tok_captureFails"))


async def three_d_secure_confirmed(client, settings, gateway):
    payment = payment_input(payment_method="tok_threeDSecureRequired")
    handle = await start_payment(client, settings, payment)
    pending = await wait_for_status(handle, PaymentStatus.REQUIRES_ACTION)
    await gateway.post(
        f"/v1/charges/{pending.provider_reference}/3ds/complete", json={"outcome": "succeed"}
    )
    await handle.signal(PaymentWorkflow.confirm)
    return handle


async def automatic_capture_filed_at_start(client, settings, gateway):
    """Started as the API starts it: the search attributes come with the start."""
    return await start_payment(client, settings, payment_input(), filed_at_start=True)


SCENARIOS = [
    automatic_capture,
    automatic_capture_filed_at_start,
    manual_partial_capture,
    capture_failure_voids,
    three_d_secure_confirmed,
]


async def record(names: list[str]) -> None:
    unknown = set(names) - {scenario.__name__ for scenario in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp())
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal")
        or str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
    )
    engine = make_engine(f"sqlite:///{workdir / 'paysaga.db'}")
    create_schema(engine)
    with start_gateway(workdir / "gateway.db") as gateway_url:
        settings = Settings(
            database_url=str(engine.url),
            sandbox_gateway_url=gateway_url,
            task_queue=f"record-{uuid.uuid4().hex[:8]}",
        )
        async with (
            running_worker(env.client, settings, engine),
            httpx.AsyncClient(base_url=gateway_url) as gateway,
        ):
            for scenario in SCENARIOS:
                if names and scenario.__name__ not in names:
                    continue
                handle = await scenario(env.client, settings, gateway)
                await handle.result()
                history = await handle.fetch_history()
                target = HISTORIES / f"payment_{scenario.__name__}.json"
                target.write_text(history.to_json())
                print(f"recorded {target}")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
