"""Start and stop the baseline worker subprocess; ready once it polls its task queue."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from schemas.runtime.settings import Settings

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class BaselineWorkerProcess:
    def __init__(self, temporal: Settings, task_queue: str, log_path: Path) -> None:
        self.temporal = temporal
        self.task_queue = task_queue
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def spawn(self) -> None:
        self._log = self.log_path.open("ab")
        cmd = [sys.executable, "-m", "workers.tools.bench.baseline_worker"]
        self._process = subprocess.Popen(
            [*cmd, self.task_queue],
            env={**os.environ, **temporal_env(self.temporal)},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group, like the stack's children: stop() reaches all of it.
            start_new_session=True,
        )

    async def wait_polling(self, client: Client) -> None:
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"the baseline worker exited; see {self.log_path}")
            # The queue is new for every run, so any poller is this worker.
            if (await client.workflow_service.describe_task_queue(request)).pollers:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"the baseline worker did not poll within {START_TIMEOUT:.0f}s")

    def stop(self) -> None:
        process = self._process
        if process is not None:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None


def temporal_env(settings: Settings) -> dict[str, str]:
    """``PAYSAGA_*`` for a child that reaches Temporal as ``settings`` does (keys included)."""
    env = {
        "PAYSAGA_TEMPORAL_ADDRESS": settings.temporal_address,
        "PAYSAGA_TEMPORAL_NAMESPACE": settings.temporal_namespace,
    }
    if settings.payload_key_id is not None:
        keys = {key_id: key.get_secret_value() for key_id, key in settings.payload_keys.items()}
        env["PAYSAGA_PAYLOAD_KEYS"] = json.dumps(keys)
        env["PAYSAGA_PAYLOAD_KEY_ID"] = settings.payload_key_id
    return env
