"""The embedded stack and ``paysaga dev``: real Temporal dev server, gateway, worker and API."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from activities.risk.model import RiskModel
from tests.support.paysaga_cli import paysaga_command
from workers.stack import EmbeddedStack
from workers.stack import free_stack_ports
from workers.stack.ports import port_is_free
from workers.stack.summary import summary_rows

PAYMENT_BODY = {
    "amount": 1999,
    "currency": "USD",
    "customer_id": "cus_123",
    "payment_method": "tok_visa",
}


def _cli_ports() -> dict[str, int]:
    """Free ports for ``paysaga dev``, whose Temporal HTTP API and metrics ports are derived
    from the gRPC port (+ 10, + 11) and so must be free too."""
    while True:
        ports = free_stack_ports()
        derived = [ports["temporal_port"] + 10, ports["temporal_port"] + 11, ports["ui_port"] + 1]
        if all(port not in ports.values() and port_is_free("127.0.0.1", port) for port in derived):
            return ports


def _cli_args(data_dir: Path, ports: dict[str, int]) -> list[str]:
    return [
        *paysaga_command(),
        "dev",
        "--data-dir",
        str(data_dir),
        "--temporal-port",
        str(ports["temporal_port"]),
        "--ui-port",
        str(ports["ui_port"]),
        "--gateway-port",
        str(ports["gateway_port"]),
        "--api-port",
        str(ports["api_port"]),
        "--smtp-port",
        str(ports["smtp_port"]),
    ]


def _children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces: fields after the closing paren are fixed.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    """No process with this id and none left in its process group (zombies count as gone)."""
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        pass
    else:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def _assert_all_gone(pids: list[int], deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if not _gone(pid)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"processes still alive: {alive}")


def _wait_ready(url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"paysaga dev exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} not ready within {timeout}s")


def _logs(data_dir: Path) -> str:
    parts = []
    for log in sorted((data_dir / "logs").glob("*.log")):
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        parts.append(f"--- {log.name}\n{tail}")
    return "\n".join(parts)


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[list[EmbeddedStack]]:
    """Stacks created by a test are stopped even when the test fails."""
    stacks: list[EmbeddedStack] = []
    yield stacks
    for stack in stacks:
        stack.stop()


def test_dev_exits_2_and_names_the_port_when_it_is_taken(tmp_path: Path) -> None:
    ports = _cli_ports()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", ports["api_port"]))
        taken.listen()
        result = subprocess.run(
            _cli_args(tmp_path / "data", ports),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"port {ports['api_port']} (API) is already in use" in result.stderr
    # Nothing was started: the check happens before any child.
    assert not (tmp_path / "data" / "temporal.db").exists()


def test_dev_names_the_flag_that_moves_a_derived_temporal_port(tmp_path: Path) -> None:
    ports = _cli_ports()
    http_api = ports["temporal_port"] + 10
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", http_api))
        taken.listen()
        result = subprocess.run(
            _cli_args(tmp_path / "data", ports), capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 2, result.stderr
    assert f"port {http_api} (Temporal HTTP API) is already in use" in result.stderr
    assert "--temporal-port" in result.stderr


def test_stack_starts_answers_and_stops_without_orphans(
    tmp_path: Path, stack_factory: list[EmbeddedStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No model given anywhere: the first start trains one into the data dir for the worker.
    monkeypatch.delenv("PAYSAGA_RISK_MODEL_DIR", raising=False)
    stack = EmbeddedStack(data_dir=tmp_path / "data", quiet=True, **free_stack_ports())
    stack_factory.append(stack)
    stack.start()
    pids = list(stack.pids().values())
    assert set(stack.pids()) == {
        "temporal",
        "smtp-catcher",
        "gateway",
        "worker",
        "codec-proxy",
        "api",
    }
    model = RiskModel.load(tmp_path / "data" / "risk-model")
    assert stack.env()["PAYSAGA_RISK_MODEL_DIR"] == str(tmp_path / "data" / "risk-model")
    assert model.card == stack.risk_model_card
    assert (model.card.source, model.card.samples, model.card.seed) == ("synthetic", 50_000, 7)
    row = dict(summary_rows(stack))["Risk model"]
    assert row.startswith(f"{model.card.version}: held-out precision {model.card.precision:.2f}")
    # The worker's emails go to the stack's catcher, and the panel says where they land.
    assert (stack.env()["PAYSAGA_SMTP_PORT"], stack.env()["PAYSAGA_SMTP_STARTTLS"]) == (
        str(stack.smtp_port),
        "false",
    )
    assert str(stack.mail_dir) in dict(summary_rows(stack))["Emails"]

    ready = httpx.get(f"{stack.api_url}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert httpx.get(f"{stack.gateway_url}/healthz", timeout=10).status_code == 200
    # The gateway wants the stack's token for anything but its health and the customer's
    # pages (the worker has it: the payments of the other tests go through).
    refused = httpx.get(f"{stack.gateway_url}/v1/stats", timeout=10)
    assert refused.status_code == 401, refused.text
    stats = httpx.get(f"{stack.gateway_url}/v1/stats", headers=stack.gateway_headers, timeout=10)
    assert stats.status_code == 200, stats.text
    ui = httpx.get(stack.ui_url, timeout=10)
    assert ui.status_code < 500
    # The UI's codec endpoint is the loopback proxy, which adds the token the UI cannot send.
    empty = {"payloads": []}
    assert httpx.post(f"{stack.api_url}/codec/decode", json=empty).status_code == 401
    through_proxy = httpx.post(f"{stack.codec_url}/decode", json=empty, timeout=10)
    assert (through_proxy.status_code, through_proxy.json()) == (200, empty)
    assert httpx.post(f"{stack.codec_url}/encode", json=empty).status_code == 404
    assert (tmp_path / "data" / "logs" / "api.log").exists()

    stack.stop()
    assert not stack.running
    _assert_all_gone(pids)
    assert stack.pids() == {}


def test_dev_stops_every_child_on_sigint_and_exits_0(tmp_path: Path, risk_model_dir: Path) -> None:
    ports = _cli_ports()
    data_dir = tmp_path / "data"
    out = (tmp_path / "dev.out").open("wb")
    proc = subprocess.Popen(
        _cli_args(data_dir, ports),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PAYSAGA_RISK_MODEL_DIR": str(risk_model_dir)},
    )
    try:
        _wait_ready(f"http://127.0.0.1:{ports['api_port']}/readyz", proc)
        children = _children_of(proc.pid)
        # temporal, the SMTP catcher, gateway, worker, codec proxy, API
        assert len(children) == 6, children

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=45) == 0, (tmp_path / "dev.out").read_text()
        _assert_all_gone(children)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.close()


def test_payments_survive_a_restart_of_the_stack(
    tmp_path: Path, stack_factory: list[EmbeddedStack], risk_model_dir: Path
) -> None:
    data_dir = tmp_path / "data"
    ports = free_stack_ports()
    first = EmbeddedStack(data_dir=data_dir, quiet=True, risk_model_dir=risk_model_dir, **ports)
    stack_factory.append(first)
    first.start()

    created = httpx.post(
        f"{first.api_url}/v1/payments",
        json=PAYMENT_BODY,
        headers={"Idempotency-Key": "order-1001", **first.api_headers},
        timeout=30,
    )
    assert created.status_code in (200, 201, 202), created.text
    payment_id = created.json()["payment_id"]

    deadline = time.monotonic() + 30
    status = created.json()["status"]
    while status != "succeeded" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = httpx.get(
            f"{first.api_url}/v1/payments/{payment_id}", headers=first.api_headers, timeout=10
        ).json()["status"]
    assert status == "succeeded", _logs(data_dir)
    first.stop()

    second = EmbeddedStack(data_dir=data_dir, quiet=True, risk_model_dir=risk_model_dir, **ports)
    stack_factory.append(second)
    second.start()

    # The tenant and its keys are kept too: the first start's key still works.
    again = httpx.get(
        f"{second.api_url}/v1/payments/{payment_id}", headers=first.api_headers, timeout=10
    )
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "succeeded"
    assert again.json()["amount"] == 1999

    listed = httpx.get(f"{second.api_url}/v1/payments", headers=second.api_headers, timeout=10)
    assert listed.status_code == 200, listed.text
    assert payment_id in [p["payment_id"] for p in listed.json()["data"]]


def test_killed_worker_can_be_started_again(
    tmp_path: Path, stack_factory: list[EmbeddedStack], risk_model_dir: Path
) -> None:
    stack = EmbeddedStack(
        data_dir=tmp_path / "data",
        quiet=True,
        risk_model_dir=risk_model_dir,
        **free_stack_ports(),
    )
    stack_factory.append(stack)
    stack.start()
    old = stack.pid("worker")
    assert old is not None

    stack.kill_worker()
    _assert_all_gone([old])
    assert stack.pid("worker") is None

    stack.start_worker()
    assert stack.pid("worker") not in (None, old)
    stack.stop()
    assert stack.pids() == {}


def test_dev_refuses_no_auth_on_an_address_other_than_loopback(tmp_path: Path) -> None:
    ports = _cli_ports()
    result = subprocess.run(
        [*_cli_args(tmp_path / "data", ports), "--no-auth", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "--no-auth is only allowed on a loopback address" in result.stderr
    assert not (tmp_path / "data" / "temporal.db").exists()


def test_the_gateway_stays_on_loopback_with_a_token_whatever_the_host(tmp_path: Path) -> None:
    stack = EmbeddedStack(data_dir=tmp_path, host="0.0.0.0", gateway_port=8100)
    assert stack.gateway_url == "http://127.0.0.1:8100"
    env = stack.env()
    assert env["PAYSAGA_SANDBOX_GATEWAY_URL"] == stack.gateway_url
    # The worker's adapter gets the token the gateway is started with (the same environment).
    token = env["PAYSAGA_SANDBOX_GATEWAY_TOKEN"]
    assert len(token) >= 40 and token != EmbeddedStack().sandbox_gateway_token
    assert stack.settings().sandbox_gateway_token.get_secret_value() == token
    assert stack.gateway_headers == {"Authorization": f"Bearer {token}"}
    assert token not in repr(stack)


def test_dev_refuses_a_gateway_on_an_address_other_than_loopback(tmp_path: Path) -> None:
    ports = _cli_ports()
    result = subprocess.run(
        [*_cli_args(tmp_path / "data", ports), "--gateway-host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "the sandbox gateway is only bound to a loopback address" in result.stderr
    assert "--expose-gateway" in result.stderr
    assert not (tmp_path / "data" / "temporal.db").exists()
