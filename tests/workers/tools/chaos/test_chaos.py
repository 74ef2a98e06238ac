"""A short `paysaga chaos` run as a real subprocess: payments through the API while the
worker is SIGKILLed three times, the Temporal dev server once, and the gateway fails."""

import json
import subprocess

from tests.support.paysaga_cli import paysaga_command

# Guards against a hung run only; the run itself takes well under this.
HANG_GUARD_SECONDS = 900


def test_short_chaos_run_loses_nothing_and_charges_once(tmp_path):
    out = tmp_path / "chaos.json"
    cmd = [
        *paysaga_command(),
        "chaos",
        "--payments",
        "60",
        "--rate",
        "3",
        "--worker-kills",
        "3",
        "--server-restarts",
        "1",
        "--seed",
        "7",
        "--data-dir",
        str(tmp_path / "stack"),
        "--out",
        str(out),
    ]
    run = subprocess.run(
        cmd, capture_output=True, text=True, timeout=HANG_GUARD_SECONDS, check=False
    )
    report = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr[-5000:]}"
    assert run.returncode == 0, report
    result = json.loads(out.read_text())

    assert result["ok"], result["violations"]
    assert result["violations"] == []
    assert result["payments"] == 60
    assert result["all_final"] and result["not_final"] == []
    assert sum(result["statuses"].values()) == 60
    assert result["duplicates"] == 0
    assert result["imbalance"] == 0
    # The ledger and the gateway agree on every capture, fee and refund of the day.
    assert result["reconciliation_mismatches"] == []
    assert result["worker_kills"] == 3
    assert result["server_restarts"] == 1
    assert sum(result["faults_injected"].values()) > 0
    # A request that met the dead Temporal server got a 5xx (or lost its connection) and was
    # sent again with its key; whether one met it depends on timing (the SDK's own retries
    # ride out short outages), so the retries are checked against the answers, not counted.
    failed_answers = sum(n for answer, n in result["client_answers"].items() if " 5" in answer)
    by_reason = result["client_retries_by_reason"]
    assert result["client_retries"] == sum(by_reason.values())
    assert (
        sum(n for reason, n in by_reason.items() if reason.startswith("http:5")) == failed_answers
    )
    # The mix ran: captures that fail are voided by a compensation.
    assert result["statuses"].get("succeeded", 0) > 0
    assert result["statuses"].get("declined", 0) > 0
    assert result["compensations_by_outcome"].get("succeeded", 0) > 0
    assert result["verification"]["ok"]
