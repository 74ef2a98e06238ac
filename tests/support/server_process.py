"""A server the tests run as a real subprocess on a free port (the sandbox gateway,
localstripe): started, waited for until it answers, stopped.

    with SomeServer(...) as base_url:
        ...

A subclass says how to run it (``command``, ``spawn``), when it is ready (``answers``) and
how it is signalled (``send``). Its output goes to ``log_path``, shown when it fails to start.
"""

import signal
import subprocess
import time
from pathlib import Path
from typing import IO

from workers.stack import free_port


class ServerProcess:
    """One server subprocess; ``start()`` answers its base URL."""

    name = "server"

    def __init__(self, log_path: Path, startup_timeout: float = 20.0) -> None:
        self.log_path = log_path
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.url = ""

    def command(self, port: int) -> list[str]:
        raise NotImplementedError

    def answers(self, base_url: str) -> bool:
        """Whether the server is ready at ``base_url``."""
        raise NotImplementedError

    def spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def start(self, port: int | None = None) -> str:
        """``port``: listen there (a restart where its clients know it), else on a free one."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if port is not None:
            if not self._launch(port):
                raise RuntimeError(f"{self.name} did not start on {port}:\n{self.log_tail()}")
            self.url = f"http://127.0.0.1:{port}"
            return self.url
        for _ in range(3):  # another process may take the free port before the server binds it
            port = free_port()
            if self._launch(port):
                self.url = f"http://127.0.0.1:{port}"
                return self.url
        raise RuntimeError(f"{self.name} did not start:\n{self.log_tail()}")

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM), then SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        self.send(signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """A crash: no shutdown, open connections drop without an answer."""
        if self.process is not None and self.process.poll() is None:
            self.send(signal.SIGKILL)
            self.process.wait(timeout=5)

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _launch(self, port: int) -> bool:
        """Whether it answers on ``port``; False if it exited first (the port was taken)."""
        with self.log_path.open("ab") as log:
            self.process = self.spawn(self.command(port), log)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if self.answers(f"http://127.0.0.1:{port}"):
                return True
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{self.name} not answering after {self.startup_timeout}s:\n{self.log_tail()}"
        )
