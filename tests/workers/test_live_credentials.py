"""A paysaga process with the sandbox on next to a live key refuses to start, and says why
without printing the key."""

import subprocess
import sys

import pytest

LIVE_STRIPE_KEY = "sk_live_51PaysagaNotARealKey00"


@pytest.mark.parametrize("process", ["worker", "api"])
def test_a_process_with_the_sandbox_on_and_a_live_key_refuses_to_start(process, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "PAYSAGA_STRIPE_API_KEY": LIVE_STRIPE_KEY,
        "PAYSAGA_SANDBOX_ENABLED": "true",
        "PAYSAGA_DATA_DIR": str(tmp_path),
        "PAYSAGA_DATABASE_URL": f"sqlite:///{tmp_path}/paysaga.db",
    }
    result = subprocess.run(
        [sys.executable, "-m", "workers.cli", process],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "the sandbox is enabled next to live credentials" in result.stderr
    assert LIVE_STRIPE_KEY not in result.stderr + result.stdout
