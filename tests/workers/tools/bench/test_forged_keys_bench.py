"""`paysaga bench --forged-keys` for real on a few requests: it starts the API alone, measures
both forgeries and the legitimate key, and its exit code agrees with the ratios it reports
(the figures themselves depend on the machine)."""

import json
import subprocess

from tests.support.paysaga_cli import paysaga_command
from workers.cli import build_parser
from workers.tools.bench.cli import argument_problem
from workers.tools.bench.forged_keys import FLOOD_RATIO_BOUND
from workers.tools.bench.forged_keys import ORACLE_RATIO_BOUND

REQUESTS = 20


def test_forged_keys_reports_both_ratios(tmp_path):
    out = tmp_path / "forged-keys.json"
    done = subprocess.run(
        [
            *(*paysaga_command(), "bench", "--forged-keys"),
            *("--forgers", "4", "--forged-rate", "20", "--forged-requests", str(REQUESTS)),
            *("--out", str(out)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(out.read_text())
    for name in (
        "forged_live_prefix",
        "forged_unknown_prefix",
        "legitimate_alone",
        "legitimate_under_flood",
    ):
        assert report[name]["count"] == REQUESTS
    met = report["flood_ratio"] <= FLOOD_RATIO_BOUND and (
        1 / ORACLE_RATIO_BOUND <= report["oracle_ratio"] <= ORACLE_RATIO_BOUND
    )
    assert done.returncode == (0 if met else 1), done.stdout + done.stderr


def test_forged_keys_runs_alone():
    args = build_parser().parse_args(["bench", "--forged-keys", "--risk-scoring"])
    assert argument_problem(args) == (
        "--forged-keys runs alone, without a stack or another measurement"
    )
    assert argument_problem(build_parser().parse_args(["bench", "--forged-keys"])) is None
