"""The stack's child processes: spawned, waited for, stopped, each with its log.

Each child runs in its own session (process group) so that stopping it also stops anything
it spawned, and its output goes to ``<log_dir>/<name>.log``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import IO
from typing import Any
from typing import TypeVar

import httpx

from workers.stack.errors import StackError

_T = TypeVar("_T")


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    started_wall: datetime
    # What asks it to shut down cleanly (Python children turn SIGINT into KeyboardInterrupt).
    stop_signal: signal.Signals


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


class Children:
    """The running children by name."""

    def __init__(self, log_dir: Path, say: Callable[[str], None], secret: str) -> None:
        self._log_dir = log_dir
        self._say = say
        # Written into a command line (the UI's codec endpoint) but never into a log.
        self._secret = secret
        self._running: dict[str, Child] = {}
        # Set when a start is interrupted, so waits running on helper threads give up at once.
        self.abort = threading.Event()

    @property
    def running(self) -> bool:
        return bool(self._running)

    def log_path(self, name: str) -> Path:
        return self._log_dir / f"{name}.log"

    def spawn(
        self,
        name: str,
        cmd: list[str],
        env: dict[str, str],
        stop_signal: signal.Signals = signal.SIGINT,
    ) -> Child:
        if name in self._running:
            raise StackError(f"{name} is already running")
        log_path = self.log_path(name)
        log = log_path.open("ab")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        shown = " ".join(cmd).replace(self._secret, "***")
        log.write(f"\n=== {stamp} paysaga: starting {name}: {shown}\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_child_setup(),
            )
        except BaseException:
            log.close()
            raise
        child = Child(name, process, log, log_path, datetime.now(UTC), stop_signal)
        self._running[name] = child
        return child

    def check_alive(self, child: Child) -> None:
        """Raise ``StackError`` when the start was interrupted or ``child`` has exited."""
        if self.abort.is_set():
            raise StackError("start interrupted")
        code = child.process.poll()
        if code is None:
            return
        self._forget(child.name)
        raise StackError(
            f"{child.name} exited with code {code} while starting; last lines of "
            f"{child.log_path}:\n{_tail(child.log_path)}"
        )

    def wait_http(self, child: Child, url: str, timeout: float) -> None:
        """Until ``url`` answers 200."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline:
                self.check_alive(child)
                try:
                    response = http.get(url)
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.1)
        raise StackError(
            f"{child.name} did not answer 200 on {url} within {timeout:.0f}s "
            f"(last: {last}); see {child.log_path}"
        )

    def wait_smtp(self, child: Child, host: str, port: int, timeout: float) -> None:
        """Until an SMTP server greets on ``host:port`` (its ``220``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(child)
            try:
                with socket.create_connection((host, port), timeout=2.0) as connection:
                    if connection.recv(3) == b"220":
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise StackError(
            f"{child.name} did not greet on {host}:{port} within {timeout:.0f}s; "
            f"see {child.log_path}"
        )

    def run_async(self, coro_factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
        """Run a coroutine from sync code, even when the caller has an event loop running.

        If the wait is interrupted (Ctrl-C), the helper thread is told to give up and is
        not waited for.
        """
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        try:
            return pool.submit(asyncio.run, coro_factory()).result()
        except BaseException:
            self.abort.set()
            raise
        finally:
            pool.shutdown(wait=False)

    def stop(self, name: str, timeout: float) -> None:
        """Ask the child to stop, kill it after ``timeout`` seconds, and kill what is left of
        its group."""
        child = self._running.get(name)
        if child is None:
            return
        process = child.process
        if process.poll() is None:
            _signal_group(child, child.stop_signal)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._say(f"[yellow]{name} did not stop in {timeout:.0f}s; killing[/]")
        # Whatever is left in the group (the child or anything it spawned) is killed.
        _signal_group(child, signal.SIGKILL)
        process.wait()
        self._forget(name)

    def kill(self, name: str) -> None:
        """SIGKILL one child and its process group, without any graceful shutdown."""
        child = self._running.get(name)
        if child is None:
            raise StackError(f"{name} is not running")
        _signal_group(child, signal.SIGKILL)
        child.process.wait()
        self._forget(name)

    def pid(self, name: str) -> int | None:
        child = self._running.get(name)
        return child.process.pid if child else None

    def pids(self) -> dict[str, int]:
        return {name: child.process.pid for name, child in self._running.items()}

    def poll(self) -> dict[str, int]:
        """Children that have exited on their own since they started: ``{name: exit code}``."""
        return {
            name: code
            for name, child in self._running.items()
            if (code := child.process.poll()) is not None
        }

    def _forget(self, name: str) -> None:
        child = self._running.pop(name, None)
        if child is not None:
            child.log.close()


def _signal_group(child: Child, sig: signal.Signals) -> None:
    try:
        os.killpg(child.process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
