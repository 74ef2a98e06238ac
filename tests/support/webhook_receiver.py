"""A tenant's webhook receiver for the tests: ``webhook_receiver_server`` as a real process,
and what a test does with it.

    with webhook_receiver(tmp_path) as receiver:
        receiver.configure("shop", secrets=[endpoint_secret])
        ...  # an endpoint registered at receiver.url("shop")
        receiver.deliveries("shop")  # [{"webhook_id", "timestamp", "body", "secret", …}]
        receiver.stop()   # the endpoint is down: connections refused
        receiver.start()  # up again, on the same port, with its secrets and records

Each test uses names of its own: a receiver's records are never cleared.
"""

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.support.server_process import ServerProcess

_ROOT = Path(__file__).resolve().parents[2]


class _ReceiverProcess(ServerProcess):
    name = "webhook receiver"

    def __init__(self, state_path: Path, log_path: Path) -> None:
        super().__init__(log_path)
        self.state_path = state_path

    def command(self, port: int) -> list[str]:
        module = "tests.support.webhook_receiver_server"
        return [sys.executable, "-m", module, "--port", str(port), "--state", str(self.state_path)]

    def spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=_ROOT)

    def answers(self, base_url: str) -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False


class WebhookReceiver:
    """The receiver's process (state and log in ``directory``) and its control API."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._process = _ReceiverProcess(
            directory / "webhook_receiver.json", directory / "webhook_receiver.log"
        )
        self._port: int | None = None

    @property
    def base_url(self) -> str:
        assert self._port is not None, "the receiver has never started"
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        """On a free port the first time, then on the same one: its URLs stay valid."""
        base_url = self._process.start(self._port)
        self._port = urlsplit(base_url).port

    def stop(self) -> None:
        self._process.stop()

    def kill(self) -> None:
        self._process.kill()

    def url(self, name: str) -> str:
        return f"{self.base_url}/hooks/{name}"

    def configure(
        self,
        name: str,
        *,
        secrets: list[str] | None = None,
        mode: str | None = None,
        status: int | None = None,
        body_size: int | None = None,
    ) -> None:
        """Only what is given changes (modes: ``webhook_receiver_server``'s docstring)."""
        given = {"secrets": secrets, "mode": mode, "status": status, "body_size": body_size}
        changes = {key: value for key, value in given.items() if value is not None}
        response = httpx.put(f"{self.base_url}/control/{name}", json=changes, timeout=5)
        response.raise_for_status()

    def deliveries(self, name: str) -> list[dict[str, Any]]:
        """The verified deliveries to ``name``, oldest first."""
        return self._records(name, "deliveries")

    def rejected(self, name: str) -> list[dict[str, Any]]:
        """The deliveries to ``name`` no configured secret verified (answered 400)."""
        return self._records(name, "rejected")

    def redirected(self, name: str) -> list[dict[str, Any]]:
        """Requests to where ``name``'s redirect points: a sender that followed it."""
        return self._records(name, "redirected")

    def _records(self, name: str, kind: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.base_url}/control/{name}/{kind}", timeout=5)
        response.raise_for_status()
        return response.json()


@contextmanager
def webhook_receiver(directory: Path) -> Iterator[WebhookReceiver]:
    """A started receiver for the block, stopped after it."""
    receiver = WebhookReceiver(directory)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
