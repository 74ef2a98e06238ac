"""Start the sandbox gateway as a real subprocess for a test.

    with start_gateway(tmp_path / "gateway.db") as base_url:
        httpx.get(f"{base_url}/healthz")

``GatewayProcess`` is the same with more control (``kill()`` simulates a crash). The gateway's
output goes to ``<db>.log`` next to the database and is shown if it fails to start.
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from workers.stack import free_port


class GatewayProcess:
    """``python -m workers.sandbox_gateway`` on a free port."""

    def __init__(
        self,
        db_path: Path,
        *,
        faults: dict[str, Any] | None = None,
        seed: int | None = 0,
        public_url: str | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.db_path = Path(db_path)
        self.log_path = self.db_path.with_name(self.db_path.name + ".log")
        self.startup_timeout = startup_timeout
        self.args: list[str] = []
        if faults is not None:
            self.args += ["--faults", json.dumps(faults)]
        if seed is not None:
            self.args += ["--seed", str(seed)]
        if public_url is not None:
            self.args += ["--public-url", public_url]
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> str:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # another process may take the free port before the gateway binds it
            port = free_port()
            if self._launch(port):
                self.url = f"http://127.0.0.1:{port}"
                return self.url
        raise RuntimeError(f"sandbox gateway did not start:\n{self._log_tail()}")

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """A crash: no shutdown, open connections drop without an answer."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=5)

    def _launch(self, port: int) -> bool:
        command = [sys.executable, "-m", "workers.sandbox_gateway"]
        command += ["--port", str(port), "--db", str(self.db_path), *self.args]
        env = {k: v for k, v in os.environ.items() if k != "SANDBOX_FAULTS"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _healthy(f"http://127.0.0.1:{port}"):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"sandbox gateway not healthy after {self.startup_timeout}s:\n{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def start_gateway(db_path: Path, **options: Any) -> Iterator[str]:
    """Run the gateway on a free port for the block; yields its base URL.

    ``options``: ``faults`` (dict, as ``PUT /v1/faults``), ``seed``, ``public_url``,
    ``startup_timeout``.
    """
    gateway = GatewayProcess(db_path, **options)
    try:
        yield gateway.start()
    finally:
        gateway.stop()
