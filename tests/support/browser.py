"""A real headless Chromium for UI checks: the system's browser, never a downloaded one."""

import os
import re
import shutil
from pathlib import Path

import pytest

# Headless as root on a machine without internet: no sandbox (root), no GPU, and none of
# Chromium's own background traffic (its refused connections would stall or spam the page).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Anything but the local stack: the UI's news feed, fonts, telemetry. Aborted at once instead
# of waiting for a DNS answer that never comes.
NOT_LOCAL = re.compile(r"^https?://(?!(127\.0\.0\.1|localhost)[:/])")

REPO_ROOT = Path(__file__).resolve().parents[2]


def chromium_path() -> str:
    """The Chromium to drive; skips the test where there is none (fails in CI)."""
    path = os.environ.get("PAYSAGA_CHROMIUM") or shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail("no Chromium for the browser tests: install it or set PAYSAGA_CHROMIUM")
    pytest.skip("no Chromium for the browser tests; install it: apt-get install chromium")


def artifacts_dir() -> Path:
    """Where tests leave files for people to look at (screenshots), created on demand."""
    directory = Path(os.environ.get("PAYSAGA_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
