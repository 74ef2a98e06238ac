"""``paysaga chaos``: its arguments and what it prints and returns."""

import argparse
import signal
from pathlib import Path
from types import FrameType

from workers.tools.chaos.config import ChaosConfig

EXIT_VIOLATIONS = 1
EXIT_DID_NOT_RUN = 2


def add_chaos_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = ChaosConfig()
    parser.add_argument(
        "--payments", type=int, default=defaults.payments, help="default: %(default)s"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=defaults.rate,
        help="payments started per second (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="default: %(default)s")
    parser.add_argument(
        "--worker-kills",
        type=int,
        default=defaults.worker_kills,
        help="SIGKILLs of the worker (default: %(default)s)",
    )
    parser.add_argument(
        "--server-restarts",
        type=int,
        default=defaults.server_restarts,
        help="SIGKILLs and restarts of the Temporal dev server (default: %(default)s)",
    )
    parser.add_argument(
        "--no-faults",
        action="store_true",
        help="do not inject gateway faults (5xx, latency, hangs)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=defaults.settle_seconds,
        help="seconds after the last start for every payment to be final (default: %(default)s)",
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
    config = ChaosConfig(
        payments=args.payments,
        rate=args.rate,
        seed=args.seed,
        worker_kills=args.worker_kills,
        server_restarts=args.server_restarts,
        faults=not args.no_faults,
        settle_seconds=args.settle,
        data_dir=args.data_dir,
        out=args.out,
        quiet=args.quiet,
    )
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
