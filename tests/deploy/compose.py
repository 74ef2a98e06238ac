"""The deployment files as a user meets them: docker-compose.yml, .env.example, deploy/.

``compose_config`` runs the real ``docker-compose config`` (Debian's docker-compose 1.29,
which .ci/run installs) on an env file, exactly as ``docker compose up`` would read .env.
"""

import importlib.util
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
# The operators' ports (Temporal, its UI, Jaeger, Prometheus), added only on purpose.
PORTS_FILE = REPO / "docker-compose.ports.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
DEPLOY = REPO / "deploy"

# Every variable without which `docker compose` must refuse to start.
SECRETS = (
    "PAYSAGA_DB_PASSWORD",
    "TEMPORAL_DB_PASSWORD",
    "PAYSAGA_ADMIN_KEY",
    "PAYSAGA_API_KEY_PEPPER",
    "PAYSAGA_CODEC_TOKEN",
    "PAYSAGA_METRICS_TOKEN",
    "PAYSAGA_PAYLOAD_KEYS",
    "PAYSAGA_PAYLOAD_KEY_ID",
)
INSTALL_HINT = "docker-compose is not installed (Debian: apt-get install docker-compose)"


@cache
def raw_compose() -> dict[str, Any]:
    """The file as written, anchors and merge keys resolved, ``${...}`` left as they are."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict[str, dict[str, Any]]:
    return raw_compose()["services"]


def is_one_shot(service: dict[str, Any]) -> bool:
    return service.get("restart") == "no"


def generate_env_module() -> ModuleType:
    """deploy/generate_env.py, the script the operator guide tells users to run."""
    spec = importlib.util.spec_from_file_location("generate_env", DEPLOY / "generate_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_env_text(key_id: str = "k-20250601") -> str:
    """A complete .env with fresh random secrets, as `generate_env.py > .env` writes it."""
    return generate_env_module().filled(ENV_EXAMPLE.read_text(), key_id)


def docker_compose_binary() -> str:
    """Under CI=true a missing binary fails the test; elsewhere it is skipped, with the hint."""
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return binary


def compose_config(
    env_file_text: str, tmp_path: Path, *overrides: Path
) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with this .env, in an environment holding nothing else (a
    developer's shell variables or their own .env must not fill a missing secret);
    ``overrides``: files added after docker-compose.yml (``PORTS_FILE``)."""
    env_file = tmp_path / "compose.env"
    env_file.write_text(env_file_text)
    files = [arg for path in (COMPOSE_FILE, *overrides) for arg in ("--file", str(path))]
    return subprocess.run(
        [
            docker_compose_binary(),
            *files,
            "--project-directory",
            str(REPO),
            "--env-file",
            str(env_file),
            "config",
        ],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def with_value(env_file_text: str, name: str, value: str) -> str:
    """The env file with ``name``'s line set to ``value``."""
    lines = env_file_text.splitlines()
    changed = [f"{name}={value}" if line.startswith(f"{name}=") else line for line in lines]
    assert changed != lines or f"{name}={value}" in lines, f"{name} is not in the env file"
    return "\n".join(changed) + "\n"
