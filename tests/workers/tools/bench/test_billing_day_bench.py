"""`paysaga bench --billing-day` for real, with a few subscriptions on its own stack.

The bench measures how long the billing day takes; this test checks what it counts and
verifies (one payment per period, one charge per payment, the ledger) and its exit code.
"""

import json
import subprocess

from tests.support.paysaga_cli import paysaga_command

SUBSCRIPTIONS = 12


def test_billing_day_charges_every_subscription_once_and_reports(tmp_path):
    out = tmp_path / "billing-day.json"
    done = subprocess.run(
        [
            *(*paysaga_command(), "bench", "--billing-day"),
            *("--subscriptions", str(SUBSCRIPTIONS), "--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["subscriptions"] == {"requested": SUBSCRIPTIONS, "created": SUBSCRIPTIONS}
    assert report["billing_day_seconds"] > 0
    assert report["periods_charged_more_than_once"] == {}
    verification = report["verification"]
    assert verification["ok"] is True, verification["problems"]
    assert verification["payments"] == SUBSCRIPTIONS
    assert verification["statuses"] == {"succeeded": SUBSCRIPTIONS}
    assert report["subscription_statuses"] == {"active": SUBSCRIPTIONS}
    assert report["processes"]["worker"]["peak_rss_mb"] > 0
    assert report["target"]["applies"] is False
    assert "Billing day" in done.stdout
