"""Start the sandbox gateway as a real subprocess for a test.

    with start_gateway(tmp_path / "gateway.db") as base_url:
        httpx.get(f"{base_url}/healthz")

``GatewayProcess`` is the same with more control (``kill()`` simulates a crash). The gateway's
output goes to ``<db>.log`` next to the database and is shown if it fails to start.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import IO
from typing import Any

import httpx

from tests.support.server_process import ServerProcess
from workers.sandbox_gateway.credential import TOKEN_VARIABLE


class GatewayProcess(ServerProcess):
    """``python -m workers.sandbox_gateway`` on a free port."""

    name = "sandbox gateway"

    def __init__(
        self,
        db_path: Path,
        *,
        faults: dict[str, Any] | None = None,
        seed: int | None = 0,
        public_url: str | None = None,
        token: str | None = None,
        startup_timeout: float = 20.0,
    ) -> None:
        self.db_path = Path(db_path)
        self.token = token
        super().__init__(self.db_path.with_name(self.db_path.name + ".log"), startup_timeout)
        self.args: list[str] = []
        if faults is not None:
            self.args += ["--faults", json.dumps(faults)]
        if seed is not None:
            self.args += ["--seed", str(seed)]
        if public_url is not None:
            self.args += ["--public-url", public_url]

    def command(self, port: int) -> list[str]:
        return [
            *(sys.executable, "-m", "workers.sandbox_gateway"),
            *("--port", str(port), "--db", str(self.db_path), *self.args),
        ]

    def spawn(self, command: list[str], log: IO[bytes]) -> subprocess.Popen:
        inherited = ("SANDBOX_FAULTS", TOKEN_VARIABLE)
        env = {k: v for k, v in os.environ.items() if k not in inherited}
        if self.token is not None:
            env[TOKEN_VARIABLE] = self.token
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)

    def answers(self, base_url: str) -> bool:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=0.5).status_code == 200
        except httpx.HTTPError:
            return False


def start_gateway(db_path: Path, **options: Any) -> GatewayProcess:
    """The gateway on a free port for a ``with`` block, which gets its base URL.

    ``options``: ``faults`` (dict, as ``PUT /v1/faults``), ``seed``, ``public_url``,
    ``token`` (its credential: every request but the customer's pages needs it),
    ``startup_timeout``.
    """
    return GatewayProcess(db_path, **options)
