"""``paysaga bench``: its arguments, and which mode runs (argparse only at import, so
``paysaga --help`` stays fast)."""

from __future__ import annotations

import argparse
import os

from workers.tools.arguments import add_with_default
from workers.tools.arguments import positive_int


def _pids(value: str) -> dict[str, int]:
    """``api=123,worker=456`` → ``{"api": 123, "worker": 456}``."""
    try:
        pairs = (item.split("=", 1) for item in value.split(",") if item)
        return {name.strip(): int(pid) for name, pid in pairs}
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not NAME=PID[,NAME=PID...]") from None


def add_bench_arguments(bench: argparse.ArgumentParser) -> None:
    load = bench.add_argument_group("load")
    add_with_default(load, "--rate", float, 20.0, "payments/s")
    add_with_default(load, "--duration", float, 30.0, "seconds of load")
    add_with_default(
        load, "--warmup", float, 3.0, "seconds of load at --rate before measuring, not counted"
    )
    load.add_argument(
        "--baseline",
        action="store_true",
        help="also drive a no-op saga of the same shape at the same rate and compare",
    )
    load.add_argument("--out", help="write the result as JSON to this file")

    find = bench.add_argument_group("--find-max: step the rate up until it no longer holds")
    find.add_argument("--find-max", action="store_true")
    add_with_default(find, "--start-rate", float, 10.0)
    add_with_default(find, "--rate-step", float, 10.0)
    add_with_default(find, "--max-rate", float, 300.0)
    add_with_default(find, "--step-duration", float, 15.0, "seconds per step")
    add_with_default(
        find, "--p99-bound", float, 1.0, "seconds; a step whose p99 exceeds it ends the search"
    )

    hold = bench.add_argument_group(
        "--long-run: hold the paysaga load that long (600 s is the documented run) and check "
        "it stays flat: POST p99 of the last 10 % of payments within 1.5x of the first "
        "10 %'s, worker peak RSS < 500 MB, RSS sampled for its slope"
    )
    hold.add_argument(
        "--long-run",
        type=float,
        metavar="SECONDS",
        help="at --rate, in place of the --duration phase; after --find-max, at the lower of "
        "--rate and 0.8x the maximum found",
    )

    target = bench.add_argument_group(
        "a running stack (default: start the embedded stack in a temporary directory)"
    )
    target.add_argument("--api-url", help="e.g. http://127.0.0.1:8000")
    target.add_argument("--temporal-address", help="e.g. 127.0.0.1:7233")
    target.add_argument(
        "--gateway-url",
        help="sandbox gateway, for the verification (its token: $PAYSAGA_SANDBOX_GATEWAY_TOKEN)",
    )
    target.add_argument("--database-url", help="paysaga's database, for the verification")
    target.add_argument(
        "--pids",
        type=_pids,
        help="processes to measure, e.g. api=123,worker=456,temporal=789,gateway=1011",
    )
    target.add_argument(
        "--api-key",
        default=os.environ.get("PAYSAGA_API_KEY"),
        help="the development tenant's key for --api-url (default: $PAYSAGA_API_KEY)",
    )
    target.add_argument(
        "--data-dir", help="embedded stack: keep its data and logs here instead of a temp dir"
    )
    # Test-only: after the load, charge one payment a second time at the gateway under
    # another key (what a random idempotency key would do); the verification must fail.
    bench.add_argument("--inject-duplicate-charge", action="store_true", help=argparse.SUPPRESS)

    report = bench.add_argument_group(
        "--financial-report: time GET /v1/reports/financial's query over a large ledger "
        "(no stack; --database-url: an empty database to load, kept afterwards; default: a "
        "scratch PostgreSQL database from PAYSAGA_TEST_POSTGRES_URL, dropped afterwards)"
    )
    report.add_argument("--financial-report", action="store_true")
    add_with_default(report, "--postings", positive_int, 1_000_000, "ledger postings to load")
    add_with_default(report, "--report-runs", positive_int, 5, "timed runs of each report")

    billing = bench.add_argument_group(
        "--billing-day: --subscriptions monthly subscriptions whose charge falls at the same "
        "moment; how long the billing day takes, the worker's memory, no duplicate charge"
    )
    billing.add_argument("--billing-day", action="store_true")
    add_with_default(billing, "--subscriptions", positive_int, 10_000, "subscriptions to bill")
    add_with_default(
        billing,
        "--create-concurrency",
        positive_int,
        32,
        "POST /v1/subscriptions in flight while creating them",
    )

    forged = bench.add_argument_group(
        "--forged-keys: a legitimate request's latency while --forgers clients send forged "
        "API keys for its prefix, and a live prefix's cost against an unknown one's, as "
        "ratios (no stack: the API alone on a scratch database, its failed-authentication "
        "throttle lifted so every forgery is verified; exit 1 above 2x)"
    )
    forged.add_argument("--forged-keys", action="store_true")
    add_with_default(forged, "--forgers", positive_int, 40, "concurrent forging clients")
    add_with_default(forged, "--forged-rate", float, 200.0, "forged keys/s, all clients together")
    add_with_default(forged, "--forged-requests", positive_int, 200, "timed requests of each kind")

    scoring = bench.add_argument_group(
        "--risk-scoring: the fraud check's time per payment, RiskModel.score alone and the "
        "whole FraudActivities.screen_payment on a SQLite file (no stack; target p99 < 5 ms)"
    )
    scoring.add_argument("--risk-scoring", action="store_true")
    add_with_default(scoring, "--payments", positive_int, 1_000, "payments scored and screened")
    scoring.add_argument(
        "--risk-model",
        help="a model directory (paysaga risk train --out); default: train one first",
    )


def argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the combination of arguments, if anything."""
    if args.long_run is not None:
        others = ("--forged-keys", "--risk-scoring", "--billing-day", "--financial-report")
        given = [flag for flag in others if _value(args, flag)]
        if given:
            return f"--long-run is a paysaga load, not with {', '.join(given)}"
        if args.long_run <= 0:
            return "--long-run must be positive"
        if args.baseline and not args.find_max:
            # The baseline would be compared with a phase paysaga did not run.
            return "--long-run with --baseline needs --find-max, whose steps it is compared with"
    if args.forged_keys and (
        args.risk_scoring or args.billing_day or args.financial_report or args.api_url
    ):
        return "--forged-keys runs alone, without a stack or another measurement"
    if args.risk_scoring and (
        args.billing_day or args.financial_report or args.find_max or args.baseline or args.api_url
    ):
        return "--risk-scoring runs alone, without a stack or another measurement"
    if args.billing_day and (args.financial_report or args.find_max or args.baseline):
        return "--billing-day runs alone, not with --financial-report, --find-max or --baseline"
    if args.financial_report:
        not_with = ("--api-url", "--find-max", "--baseline", "--inject-duplicate-charge")
        others = [flag for flag in not_with if _value(args, flag)]
        return f"--financial-report runs alone, not with {', '.join(others)}" if others else None
    if args.api_url:
        needed = ("--temporal-address", "--gateway-url", "--database-url")
        missing = [flag for flag in needed if not _value(args, flag)]
        if missing:
            return f"--api-url also needs {', '.join(missing)}"
    if args.rate <= 0 or args.duration <= 0 or args.step_duration <= 0:
        return "--rate, --duration and --step-duration must be positive"
    return None


def _value(args: argparse.Namespace, flag: str) -> object:
    """What ``--some-flag`` was given as (argparse's destination ``some_flag``)."""
    return getattr(args, flag.removeprefix("--").replace("-", "_"))


def main(args: argparse.Namespace) -> int:
    problem = argument_problem(args)
    if problem:
        from rich.console import Console
        from rich.markup import escape

        Console(stderr=True, highlight=False, soft_wrap=True).print(
            f"[red]paysaga bench: {escape(problem)}[/]"
        )
        return 2
    if args.financial_report:
        from workers.tools.bench.financial import main as mode
    elif args.risk_scoring:
        from workers.tools.bench.risk_scoring import main as mode
    elif args.forged_keys:
        from workers.tools.bench.forged_keys import main as mode
    elif args.billing_day:
        from workers.tools.bench.billing_day import main as mode
    else:
        from workers.tools.bench.runner import main as mode
    return mode(args)
