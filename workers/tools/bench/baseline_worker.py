"""The baseline worker process: ``python -m workers.tools.bench.baseline_worker QUEUE``.

A separate process like the real worker, with the same Worker settings (SDK concurrency
defaults, a 16-thread pool for synchronous activities, the same workflow runner) and the
same client (``PAYSAGA_TEMPORAL_*`` and the payload keys from its environment: the bench's
client starts its workflows with encrypted payloads), so the comparison is like for like.
"""

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker

from schemas.runtime.settings import Settings
from schemas.runtime.temporal_client import connect
from workers.tools.bench.baseline import AllLocalBaselineWorkflow
from workers.tools.bench.baseline import BaselinePaymentWorkflow
from workers.tools.bench.baseline import noop_authorize
from workers.tools.bench.baseline import noop_record
from workers.tools.bench.baseline import noop_screen
from workers.worker.build import ACTIVITY_THREADS
from workers.worker.build import workflow_runner


async def serve(task_queue: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    settings = Settings()
    client = await connect(settings)
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[BaselinePaymentWorkflow, AllLocalBaselineWorkflow],
            activities=[noop_screen, noop_authorize, noop_record],
            activity_executor=executor,
            workflow_runner=workflow_runner(settings.workflow_sandbox),
        )
        async with worker:
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
