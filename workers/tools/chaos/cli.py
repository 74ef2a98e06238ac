"""``paysaga chaos``: its arguments and what it prints and returns."""

import argparse
import signal
from dataclasses import fields
from pathlib import Path
from types import FrameType

from workers.tools.arguments import add_with_default
from workers.tools.chaos.config import ChaosConfig

EXIT_VIOLATIONS = 1
EXIT_DID_NOT_RUN = 2


def add_chaos_arguments(parser: argparse.ArgumentParser) -> None:
    """Each option sets the ``ChaosConfig`` field its destination names."""
    defaults = ChaosConfig()
    add_with_default(parser, "--payments", int, defaults.payments)
    add_with_default(parser, "--rate", float, defaults.rate, "payments started per second")
    add_with_default(parser, "--seed", int, defaults.seed)
    add_with_default(parser, "--worker-kills", int, defaults.worker_kills, "SIGKILLs of the worker")
    add_with_default(
        parser,
        "--server-restarts",
        int,
        defaults.server_restarts,
        "SIGKILLs and restarts of the Temporal dev server",
    )
    parser.add_argument(
        "--no-faults",
        dest="faults",
        action="store_false",
        help="do not inject gateway faults (5xx, latency, hangs)",
    )
    add_with_default(
        parser,
        "--settle",
        float,
        defaults.settle_seconds,
        "seconds after the last start for every payment to be final",
        dest="settle_seconds",
        metavar="SETTLE",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="keep the stack's data here (default: a temporary directory)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="write the result as JSON to this file"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary")


def main(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from workers.stack import StackError
    from workers.tools.chaos.report import print_summary
    from workers.tools.chaos.report import write_json
    from workers.tools.chaos.runner import run_chaos

    if args.payments < 1 or args.rate <= 0 or args.worker_kills < 0 or args.server_restarts < 0:
        print("paysaga chaos: --payments and --rate must be positive, kills and restarts >= 0")
        return EXIT_DID_NOT_RUN
    config = ChaosConfig(**{field.name: getattr(args, field.name) for field in fields(ChaosConfig)})
    console = Console(highlight=False)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # unwinds the run; its ``finally`` stops every child

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        result = run_chaos(config, Console(stderr=True, highlight=False))
    except StackError as exc:
        console.print(f"[red]paysaga chaos: {escape(str(exc))}[/]")
        return EXIT_DID_NOT_RUN
    except KeyboardInterrupt:
        console.print("paysaga chaos: interrupted")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print_summary(result, console)
    if config.out is not None:
        write_json(result, config.out)
    return 0 if result["ok"] else EXIT_VIOLATIONS
