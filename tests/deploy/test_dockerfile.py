"""The Dockerfile and the commands docker-compose.yml runs in its image: every command is
one the `paysaga` CLI accepts, the image holds no test dependencies and runs as non-root,
and the healthcheck one-liner really fails on an unhealthy answer."""

import http.server
import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.compose import DOCKERFILE
from tests.deploy.compose import REPO
from tests.deploy.compose import services
from workers.cli import build_parser

PAYSAGA = Path(sys.executable).with_name("paysaga")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def json_instruction(keyword: str) -> list[str]:
    (value,) = [rest for key, rest in instructions() if key == keyword]
    return json.loads(value)


def image_commands() -> dict[str, list[str]]:
    """The arguments each service built from the Dockerfile gives its entrypoint."""
    commands = {
        name: service["command"] for name, service in services().items() if "build" in service
    }
    commands["(Dockerfile CMD)"] = json_instruction("CMD")
    return commands


def test_the_entrypoint_is_the_paysaga_cli() -> None:
    assert json_instruction("ENTRYPOINT") == ["paysaga"]
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["paysaga"] == "workers.cli:main"


def test_the_image_installs_the_project_without_its_test_extra() -> None:
    runs = [rest for key, rest in instructions() if key == "RUN"]
    installs = [run for run in runs if "pip install" in run]
    assert installs and all(re.search(r"pip install \.$", run) for run in installs), installs
    assert not any("[test]" in run or "requirements" in run for run in runs)


def test_every_package_is_copied_into_the_build() -> None:
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    copied = {rest.split()[0] for key, rest in instructions() if key == "COPY"}
    assert {package.rstrip("*") for package in packages} <= copied


def test_the_image_runs_as_a_non_root_user() -> None:
    (user,) = [rest for key, rest in instructions() if key == "USER"]
    assert user not in ("root", "0")
    bases = [rest for key, rest in instructions() if key == "FROM"]
    assert all(base.startswith("${PYTHON_IMAGE}") for base in bases)
    (default,) = [rest for key, rest in instructions() if key == "ARG"]
    assert default.startswith("PYTHON_IMAGE=python:3.11-slim")


def test_the_build_context_leaves_secrets_and_local_state_out() -> None:
    ignored = set((REPO / ".dockerignore").read_text().split())
    assert {".env", ".env.*", ".git", ".venv", ".paysaga", "tests"} <= ignored


@pytest.mark.parametrize("name", sorted(image_commands()))
def test_each_command_is_one_the_cli_accepts(name: str) -> None:
    command = image_commands()[name]
    assert command[0] != "paysaga", "the entrypoint is already paysaga"
    if command[0] == "gateway":
        # The gateway's own parser takes its arguments (workers/cli.py passes them on).
        help_text = run_paysaga(["gateway", "--help"])
        for option in command[1:]:
            assert option.split("=")[0] in help_text, option
        return
    build_parser().parse_args(command)  # exits (fails the test) on an unknown option
    subcommand = [word for word in command if not word.startswith("-")][:2]
    if subcommand[0] != "db":
        subcommand = subcommand[:1]
    assert "usage: paysaga" in run_paysaga([*subcommand, "--help"])


def run_paysaga(arguments: list[str]) -> str:
    result = subprocess.run(
        [str(PAYSAGA), *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class _Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def status_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("name", ["api", "worker"])
def test_the_healthcheck_passes_on_200_and_fails_on_503(name: str, status_server: str) -> None:
    test = services()[name]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "python"]
    probe = [sys.executable, *test[2:-1]]
    ok = subprocess.run([*probe, f"{status_server}/200"], capture_output=True, timeout=30)
    unready = subprocess.run([*probe, f"{status_server}/503"], capture_output=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert unready.returncode != 0


def test_the_image_holds_a_risk_model_where_the_worker_looks() -> None:
    """The build trains the model with a fixed seed into the venv that the runtime stage
    copies, and the runtime's PAYSAGA_RISK_MODEL_DIR (the worker's default in compose too)
    points at it."""
    runs = [rest for key, rest in instructions() if key == "RUN"]
    (train,) = [run for run in runs if "risk train" in run]
    arguments = train.split()
    assert arguments[0] == "/opt/paysaga/bin/paysaga"
    parsed = build_parser().parse_args(arguments[1:])
    assert (parsed.command, parsed.risk_command, parsed.labels) == ("risk", "train", False)
    assert parsed.seed == 7
    assert parsed.out.startswith("/opt/paysaga/")  # inside what the runtime stage copies
    assert runs.index(train) > runs.index(next(run for run in runs if "pip install" in run))
    assert "COPY --from=build /opt/paysaga /opt/paysaga" in DOCKERFILE.read_text()
    env = " ".join(rest for key, rest in instructions() if key == "ENV")
    assert f"PAYSAGA_RISK_MODEL_DIR={parsed.out}" in env.split()
    worker_env = services()["worker"]["environment"]
    assert worker_env["PAYSAGA_RISK_MODEL_DIR"] == f"${{PAYSAGA_RISK_MODEL_DIR:-{parsed.out}}}"
