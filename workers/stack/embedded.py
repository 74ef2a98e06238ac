"""``EmbeddedStack``: the four children with their settings, started and stopped in order."""

from __future__ import annotations

import asyncio
import atexit
import base64
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path

from schemas.risk import RiskModelCard
from schemas.runtime.settings import API_KEEP_ALIVE_SECONDS
from schemas.runtime.settings import TASK_QUEUE
from schemas.runtime.settings import Settings
from workers.stack import dev_tenant
from workers.stack.children import Child
from workers.stack.children import Children
from workers.stack.dev_tenant import DEV_TENANT
from workers.stack.errors import StackError
from workers.stack.ports import check_ports
from workers.stack.ports import is_loopback
from workers.stack.temporal import NAMESPACE
from workers.stack.temporal import dev_server_flags
from workers.stack.temporal import find_temporal_binary
from workers.stack.temporal import wait_until_polling
from workers.stack.temporal import wait_until_serving
from workflows.kit import search_attributes

# Start order; stop() goes in reverse.
SERVICES = ("temporal", "smtp-catcher", "gateway", "worker", "codec-proxy", "api")
# The SMTP catcher takes mail from whoever reaches it: loopback, whatever ``host`` is.
SMTP_CATCHER_HOST = "127.0.0.1"


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
    # The loopback proxy the UI decodes payloads through (workers/stack/codec_proxy.py);
    # None: ui_port + 1.
    ui_codec_port: int | None = None
    gateway_port: int = 8100
    # The sandbox gateway lists every tenant's charges and takes faults and charges: it
    # listens on loopback whatever ``host`` is, and another address is refused unless
    # ``expose_gateway`` says so (its token still guards it then).
    gateway_host: str = "127.0.0.1"
    expose_gateway: bool = False
    api_port: int = 8000
    # The worker's Prometheus metrics.
    metrics_port: int = 9464
    # The SMTP catcher the worker sends every email to (workers/stack/smtp_catcher.py): each
    # lands as a .eml file in ``mail_dir``, none leaves the machine.
    smtp_port: int = 8025
    log_dir: Path | str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # `paysaga dev --no-auth`: every request acts as the development tenant.
    no_auth: bool = False
    # The read model and ledger; None: a SQLite file in data_dir (PostgreSQL: a URL).
    database: str | None = None
    # The admin API's key; a random one per start unless given.
    admin_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # The codec endpoint's credential (Authorization header): the CLI's, and the UI's through
    # the codec proxy, which adds it.
    codec_token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # What the sandbox gateway signs its webhooks to the API with; random per start.
    sandbox_webhook_secret: str = field(
        default_factory=lambda: secrets.token_urlsafe(32), repr=False
    )
    # The gateway's credential, given to the gateway and to the worker's sandbox adapter.
    sandbox_gateway_token: str = field(
        default_factory=lambda: secrets.token_urlsafe(32), repr=False
    )
    # Seconds each child gets to become ready, and to exit after SIGTERM/SIGINT.
    start_timeout: float = 60.0
    stop_timeout: float = 10.0
    quiet: bool = False
    # The worker's risk model; None: PAYSAGA_RISK_MODEL_DIR, else <data_dir>/risk-model.
    # Trained on start when the directory holds none (tests pass one trained per session).
    risk_model_dir: Path | str | None = None

    _children: Children = field(init=False, repr=False)
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
        self._children = Children(self.log_dir, self._say, secret=self.codec_token)

    # ----------------------------------------------------------------- addresses

    def _http_url(self, port: int) -> str:
        return f"http://{self.host}:{port}"

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def ui_url(self) -> str:
        return self._http_url(self.ui_port)

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def gateway_headers(self) -> dict[str, str]:
        """What a client of the gateway sends (the tests, bench and chaos runs)."""
        return {"Authorization": f"Bearer {self.sandbox_gateway_token}"}

    @property
    def api_url(self) -> str:
        return self._http_url(self.api_port)

    @property
    def mail_dir(self) -> Path:
        return Path(self.data_dir) / "mail"

    @property
    def worker_metrics_url(self) -> str:
        return f"{self._http_url(self.metrics_port)}/metrics"

    @property
    def codec_proxy_port(self) -> int:
        return self.ui_codec_port or self.ui_port + 1

    @property
    def ui_decodes(self) -> bool:
        """The codec proxy runs on loopback only: on another address the UI shows ciphertext
        (the CLI still decodes with the token)."""
        return is_loopback(self.host)

    @property
    def codec_url(self) -> str:
        """The codec endpoint as the Temporal UI calls it: the codec proxy, which adds the
        token (the API's ``/codec`` takes it in a header only)."""
        return f"{self._http_url(self.codec_proxy_port)}/codec"

    @property
    def api_headers(self) -> dict[str, str]:
        """What a client of the development tenant sends."""
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    @property
    def payload_key_path(self) -> Path:
        return Path(self.data_dir) / "payload-key.json"

    def payload_keys(self) -> dict[str, str]:
        """``PAYSAGA_PAYLOAD_KEY*`` of the children: a key made on the data dir's first
        start and kept there, since the histories in its Temporal database need it."""
        path = self.payload_key_path
        if not path.exists():
            secret = base64.b64encode(secrets.token_bytes(32)).decode()
            key = {"key_id": f"dev-{datetime.now(UTC):%Y%m%d}", "key": secret}
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
            *([(self.codec_proxy_port, "Temporal UI codec proxy")] if self.ui_decodes else []),
            *([(self.smtp_port, "SMTP catcher")] if self.host == SMTP_CATCHER_HOST else []),
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
                "PAYSAGA_SANDBOX_GATEWAY_TOKEN": self.sandbox_gateway_token,
                "PYTHONUNBUFFERED": "1",
                "PAYSAGA_EMBEDDED": "true",
                "PAYSAGA_ADMIN_KEY": self.admin_key,
                "PAYSAGA_DEFAULT_TENANT": DEV_TENANT,
                "PAYSAGA_AUTH_REQUIRED": "false" if self.no_auth else "true",
                "PAYSAGA_CODEC_TOKEN": self.codec_token,
                "PAYSAGA_SANDBOX_WEBHOOK_SECRET": self.sandbox_webhook_secret,
                "SANDBOX_WEBHOOK_URL": f"{self.api_url}/v1/webhooks/sandbox",
                "PAYSAGA_CODEC_CORS_ORIGINS": json.dumps(self.ui_origins),
                "PAYSAGA_WORKER_METRICS_ADDRESS": f"{self.host}:{self.metrics_port}",
                "PAYSAGA_RISK_MODEL_DIR": str(self.risk_model_path),
                # Local development: a webhook endpoint may be http://127.0.0.1 (README).
                "PAYSAGA_WEBHOOK_ALLOW_PRIVATE_URLS": "true",
                "PAYSAGA_SMTP_HOST": SMTP_CATCHER_HOST,
                "PAYSAGA_SMTP_PORT": str(self.smtp_port),
                "PAYSAGA_SMTP_STARTTLS": "false",
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
            sandbox_gateway_token=env.get("PAYSAGA_SANDBOX_GATEWAY_TOKEN") or None,
            payload_keys=json.loads(env.get("PAYSAGA_PAYLOAD_KEYS") or "{}"),
            payload_key_id=env.get("PAYSAGA_PAYLOAD_KEY_ID") or None,
            codec_token=env.get("PAYSAGA_CODEC_TOKEN") or None,
            admin_key=env.get("PAYSAGA_ADMIN_KEY") or None,
        )

    # ----------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._children.running

    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def check_ports(self) -> None:
        """Raise ``PortInUseError`` naming the first port that is taken (or given twice)."""
        check_ports(self.host, self.ports())
        if self.gateway_host != self.host:
            check_ports(self.gateway_host, [(self.gateway_port, "sandbox gateway")])
        if self.host != SMTP_CATCHER_HOST:
            check_ports(SMTP_CATCHER_HOST, [(self.smtp_port, "SMTP catcher")])

    def start(self) -> None:
        """Start every child and wait until each is ready; on failure, stop what started."""
        if self._children.running:
            raise StackError("the stack is already running")
        if self.no_auth and not is_loopback(self.host):
            raise StackError(
                f"--no-auth is only allowed on a loopback address, not {self.host}: "
                "anyone who can reach it would act as the development tenant"
            )
        if not (is_loopback(self.gateway_host) or self.expose_gateway):
            raise StackError(
                f"the sandbox gateway is only bound to a loopback address, not "
                f"{self.gateway_host}, unless it is exposed on purpose (--expose-gateway): "
                "it lists every tenant's charges and takes faults and charges"
            )
        self.check_ports()
        self._children.abort.clear()
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
            catcher = self._spawn_smtp_catcher()
            gateway = self._spawn_gateway()
            worker = self._spawn_worker()
            self._step(
                "SMTP catcher",
                lambda: self._children.wait_smtp(
                    catcher, SMTP_CATCHER_HOST, self.smtp_port, self.start_timeout
                ),
            )
            self._step(
                "sandbox gateway",
                lambda: self._children.wait_http(
                    gateway, f"{self.gateway_url}/healthz", self.start_timeout
                ),
            )
            self._step("worker", lambda: self._wait_worker(worker))
            if self.ui_decodes:
                self._step("UI codec proxy", self._start_codec_proxy)
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
        from activities.risk.model import CARD_FILE
        from activities.risk.model import MODEL_FILE

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
            self._children.stop(name, self.stop_timeout)

    def kill_worker(self) -> None:
        """SIGKILL the worker (and its process group) without any graceful shutdown."""
        self.kill("worker")

    def start_worker(self) -> None:
        """Start the worker and wait until it polls the workflow task queue."""
        self._wait_worker(self._spawn_worker())

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
        await self._temporal_serving(self._spawn_temporal())

    def kill(self, name: str) -> None:
        """SIGKILL one child by name (``temporal``, ``gateway``, ``worker``, ``api``)."""
        self._children.kill(name)

    def pid(self, name: str) -> int | None:
        return self._children.pid(name)

    def pids(self) -> dict[str, int]:
        return self._children.pids()

    def poll(self) -> dict[str, int]:
        """Children that have exited on their own since they started: ``{name: exit code}``."""
        return self._children.poll()

    def log_path(self, name: str) -> Path:
        return self._children.log_path(name)

    def _stop_at_exit(self) -> None:
        if self._children.running:
            self.stop()

    # ----------------------------------------------------------------- children

    def _start_temporal(self) -> None:
        child = self._spawn_temporal()
        self._children.run_async(lambda: self._temporal_serving(child))

    def _spawn_temporal(self) -> Child:
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
            *(["--ui-codec-endpoint", self.codec_url] if self.ui_decodes else []),
            "--ip",
            self.host,
            "--log-level",
            "warn",
            "--namespace",
            NAMESPACE,
            *search_attributes.cli_flags(),
            *dev_server_flags(),
        ]
        # The Temporal server stops gracefully on SIGTERM.
        return self._children.spawn("temporal", cmd, dict(os.environ), signal.SIGTERM)

    async def _temporal_serving(self, child: Child) -> None:
        await wait_until_serving(
            self._children, child, self.temporal_address, self.start_timeout, self._say
        )

    def _spawn_python(self, name: str, module: str, *args: str) -> Child:
        """``python -m module args`` with this interpreter, in the children's environment."""
        return self._children.spawn(name, [sys.executable, "-m", module, *args], self.env())

    def _spawn_gateway(self) -> Child:
        return self._spawn_python(
            "gateway",
            "workers.sandbox_gateway",
            "--host",
            self.gateway_host,
            "--port",
            str(self.gateway_port),
            "--db",
            str(Path(self.data_dir) / "gateway.db"),
        )

    def _spawn_smtp_catcher(self) -> Child:
        return self._spawn_python(
            "smtp-catcher",
            "workers.stack.smtp_catcher",
            "--host",
            SMTP_CATCHER_HOST,
            "--port",
            str(self.smtp_port),
            "--dir",
            str(self.mail_dir),
        )

    def _spawn_worker(self) -> Child:
        return self._spawn_python("worker", "workers.worker")

    def _wait_worker(self, child: Child) -> None:
        self._children.run_async(lambda: self._worker_polling(child))

    async def _worker_polling(self, child: Child) -> None:
        await wait_until_polling(
            self._children, child, self.temporal_address, self.task_queue, self.start_timeout
        )

    def _start_api(self) -> None:
        child = self._spawn_python(
            "api",
            "uvicorn",
            "api.app:create_app",
            "--factory",
            "--host",
            self.host,
            "--port",
            str(self.api_port),
            "--timeout-keep-alive",
            str(API_KEEP_ALIVE_SECONDS),
        )
        self._children.wait_http(child, f"{self.api_url}/readyz", self.start_timeout)
        self.api_key = dev_tenant.bootstrap(self.api_url, self.admin_key)

    def _start_codec_proxy(self) -> None:
        child = self._spawn_python(
            "codec-proxy",
            "workers.stack.codec_proxy",
            "--host",
            self.host,
            "--port",
            str(self.codec_proxy_port),
            "--upstream",
            f"{self.api_url}/codec",
        )
        self._children.wait_http(
            child, f"{self._http_url(self.codec_proxy_port)}/healthz", self.start_timeout
        )

    # ----------------------------------------------------------------- output

    def _step(self, label: str, action: Callable[[], None]) -> None:
        t0 = time.monotonic()
        action()
        self._say(f"  [green]✓[/] {label} ready ({time.monotonic() - t0:.1f}s)")

    def _say(self, message: str) -> None:
        if not self.quiet:
            from rich.console import Console

            Console(stderr=True, highlight=False, soft_wrap=True).print(message)
