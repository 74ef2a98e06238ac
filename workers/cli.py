"""The ``paysaga`` command.

``paysaga dev`` runs the whole stack locally (Temporal dev server, sandbox gateway, worker,
API); ``worker``, ``api`` and ``gateway`` run one process each, for deployments where the
Temporal server runs elsewhere (see docker-compose.yml); ``db upgrade`` migrates the
database before they start. ``bench``, ``chaos`` and ``risk`` are the tools of
``workers.tools``, each declaring its own arguments (``add_*_arguments``) and running its
``main``. Heavy imports happen inside the subcommands so ``paysaga --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from workers.tools.arguments import add_with_default

EXIT_PORT_IN_USE = 2


class _Terminate(Exception):
    """Raised from the SIGINT/SIGTERM/SIGHUP handler so ``dev`` stops its children."""


def _port(value: str) -> int:
    port = int(value)
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paysaga", description="Payments as durable Temporal sagas with compensations."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    dev = commands.add_parser(
        "dev",
        help="run Temporal, the sandbox gateway, the worker and the API locally",
        description="Run the whole stack on this machine until Ctrl-C. State is kept in "
        "--data-dir (Temporal history, payments, gateway), logs in <data-dir>/logs.",
    )
    add_with_default(
        dev,
        "--data-dir",
        str,
        os.environ.get("PAYSAGA_DATA_DIR", ".paysaga"),
        "directory for the SQLite files and logs",
    )
    add_with_default(dev, "--host", str, "127.0.0.1", "address to bind")
    add_with_default(dev, "--api-port", _port, 8000)
    add_with_default(dev, "--temporal-port", _port, 7233)
    add_with_default(dev, "--ui-port", _port, 8233)
    add_with_default(dev, "--gateway-port", _port, 8100)
    add_with_default(
        dev,
        "--gateway-host",
        str,
        "127.0.0.1",
        "address of the sandbox gateway (loopback unless --expose-gateway)",
    )
    dev.add_argument(
        "--expose-gateway",
        action="store_true",
        help="allow a --gateway-host that is not loopback (every request but the customer's "
        "pages still needs the gateway token printed at start)",
    )
    add_with_default(dev, "--metrics-port", _port, 9464, "worker metrics")
    add_with_default(dev, "--smtp-port", _port, 8025, "the SMTP catcher every email goes to")
    dev.add_argument(
        "--database-url",
        default=os.environ.get("PAYSAGA_DATABASE_URL"),
        help="SQL database of the read model and ledger, e.g. postgresql+psycopg://… "
        "(default: $PAYSAGA_DATABASE_URL, else <data-dir>/paysaga.db)",
    )
    dev.add_argument(
        "--no-auth",
        action="store_true",
        help="serve the API without API keys (every request acts as the development tenant; "
        "said at start, in the API log and in /healthz)",
    )

    commands.add_parser(
        "worker",
        help="run the Temporal worker (settings from PAYSAGA_* variables)",
        description="Run the worker: workflows and activities on the paysaga task queue.",
    )

    api = commands.add_parser(
        "api", help="run the REST API with uvicorn", description="Serve api.app:create_app."
    )
    add_with_default(api, "--host", str, "127.0.0.1")
    add_with_default(api, "--port", _port, 8000)

    db = commands.add_parser(
        "db",
        help="database schema: run the migrations, show the revision",
        description="The SQL schema is changed only by migrations (schemas/store/migrations). Run "
        "`paysaga db upgrade` before starting the API and the worker, which refuse to start "
        "on an older schema.",
    )
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    for name, help_text in (
        ("upgrade", "migrate the database to the schema this code expects"),
        ("current", "print the database's schema revision"),
    ):
        db_command = db_commands.add_parser(name, help=help_text, description=help_text + ".")
        db_command.add_argument(
            "--database-url",
            default=None,
            help="default: PAYSAGA_DATABASE_URL, else sqlite:///.paysaga/paysaga.db",
        )

    gateway = commands.add_parser(
        "gateway",
        help="run the sandbox payment gateway (arguments are passed through)",
        description="Run the sandbox gateway; see `paysaga gateway --help`.",
        add_help=False,
    )
    gateway.add_argument("args", nargs=argparse.REMAINDER)

    search = commands.add_parser(
        "search-attributes",
        help="register paysaga's search attributes on a Temporal namespace",
        description="Add the custom search attributes the workflows set (PaymentStatus, "
        "...) when the namespace lacks them. Safe to run repeatedly.",
    )
    add_with_default(
        search,
        "--address",
        str,
        os.environ.get("PAYSAGA_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
        "Temporal frontend",
    )
    add_with_default(
        search, "--namespace", str, os.environ.get("PAYSAGA_TEMPORAL_NAMESPACE", "default")
    )
    search.add_argument(
        "--wait", type=float, default=60.0, help="seconds to wait for the server to answer"
    )

    from workers.tools.bench.cli import add_bench_arguments

    bench = commands.add_parser(
        "bench",
        help="drive payments through the API at a fixed rate and report speed and correctness",
        description="Start the embedded stack (or target a running one with --api-url), drive "
        "card payments through POST /v1/payments at a fixed arrival rate (open loop), report "
        "throughput, latency, CPU per process and worker memory, then verify every payment. "
        "Exits 1 when the verification fails.",
    )
    add_bench_arguments(bench)

    from workers.tools.chaos.cli import add_chaos_arguments

    chaos = commands.add_parser(
        "chaos",
        help="drive payments while killing the worker and Temporal and failing the gateway",
        description="Start the embedded stack, drive a mix of payments through the API while "
        "SIGKILLing the worker and the Temporal dev server and injecting gateway faults, then "
        "verify: every payment final, no duplicate charge, ledger balanced. Exits 1 on any "
        "violation.",
    )
    add_chaos_arguments(chaos)

    from workers.tools.webhook_listener import add_listen_arguments

    webhooks = commands.add_parser(
        "webhooks",
        help="try webhook endpoints out locally",
        description="Webhook deliveries from paysaga, received on this machine.",
    )
    webhook_commands = webhooks.add_subparsers(
        dest="webhooks_command", required=True, metavar="WEBHOOKS_COMMAND"
    )
    listen = webhook_commands.add_parser(
        "listen",
        help="receive, verify (Standard Webhooks) and print deliveries",
        description="Serve a receiver that verifies each delivery with the endpoint's secret "
        "and prints the event; register its URL as a webhook endpoint (make run allows "
        "http://127.0.0.1).",
    )
    add_listen_arguments(listen)

    from workers.tools.risk.cli import add_risk_arguments

    risk = commands.add_parser(
        "risk",
        help="the fraud risk model: train it",
        description="The risk model scores each payment's probability of fraud.",
    )
    add_risk_arguments(risk)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["gateway"]:
        # Everything after `gateway` belongs to the gateway's own parser (argparse's
        # REMAINDER does not pass options such as --help through a subcommand).
        from workers.sandbox_gateway.__main__ import main as gateway_main

        return gateway_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        return _dev(args)
    if args.command == "worker":
        from workers.worker.build import main as worker_main

        return worker_main() or 0
    if args.command == "api":
        import uvicorn

        from schemas.runtime.settings import API_KEEP_ALIVE_SECONDS

        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            timeout_keep_alive=API_KEEP_ALIVE_SECONDS,
        )
        return 0
    if args.command == "search-attributes":
        return _search_attributes(args)
    if args.command == "db":
        return _db(args)
    if args.command == "bench":
        from workers.tools.bench.cli import main as bench_main

        return bench_main(args)
    if args.command == "chaos":
        from workers.tools.chaos.cli import main as chaos_main

        return chaos_main(args)
    if args.command == "webhooks":
        from workers.tools.webhook_listener import main as listen_main

        return listen_main(args)
    if args.command == "risk":
        from workers.tools.risk.cli import main as risk_main

        return risk_main(args)
    raise AssertionError(args.command)  # pragma: no cover


def _dev(args: argparse.Namespace) -> int:
    def on_signal(signum: int, frame: FrameType | None) -> None:
        raise _Terminate

    # Installed first and explicitly: a shell that starts us in the background ignores
    # SIGINT, and closing the terminal sends SIGHUP; every way of asking us to stop (even
    # during the imports below) stops the children that were started.
    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in stop_signals}
    stack = None
    try:
        from rich.console import Console
        from rich.markup import escape

        from workers.stack import EmbeddedStack
        from workers.stack import PortInUseError
        from workers.stack import StackError
        from workers.stack.summary import print_summary

        err = Console(stderr=True, highlight=False, soft_wrap=True)
        stack = EmbeddedStack(
            data_dir=args.data_dir,
            host=args.host,
            temporal_port=args.temporal_port,
            ui_port=args.ui_port,
            gateway_port=args.gateway_port,
            gateway_host=args.gateway_host,
            expose_gateway=args.expose_gateway,
            api_port=args.api_port,
            metrics_port=args.metrics_port,
            smtp_port=args.smtp_port,
            no_auth=args.no_auth,
            database=args.database_url,
        )
        try:
            err.print(f"Starting paysaga in {stack.data_dir} (logs in {stack.log_dir})")
            stack.start()
            print_summary(stack)
            while True:
                time.sleep(0.5)
                exited = stack.poll()
                for name, code in exited.items():
                    err.print(f"[red]{name} exited with code {code}[/]; see {stack.log_path(name)}")
                if exited:
                    return 1
        except PortInUseError as exc:
            flag = {
                "API": "--api-port",
                "Temporal gRPC": "--temporal-port",
                # Temporal's HTTP API and metrics are the gRPC port + 10 and + 11.
                "Temporal HTTP API": "--temporal-port",
                "Temporal server metrics": "--temporal-port",
                "Temporal UI": "--ui-port",
                "sandbox gateway": "--gateway-port",
                "worker metrics": "--metrics-port",
                "SMTP catcher": "--smtp-port",
            }[exc.label]
            err.print(f"[red]paysaga dev: {escape(str(exc))}[/]; stop what uses it or pass {flag}")
            return EXIT_PORT_IN_USE
        except StackError as exc:
            err.print(f"[red]paysaga dev: {escape(str(exc))}[/]")
            return 1
    except (KeyboardInterrupt, _Terminate):
        print("Stopping...", file=sys.stderr)
        return 0
    finally:
        # A second Ctrl-C while stopping must not leave children behind.
        for sig in stop_signals:
            signal.signal(sig, signal.SIG_IGN)
        try:
            if stack is not None:
                stack.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _db(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from schemas.runtime.settings import Settings
    from schemas.store.database import current_revision
    from schemas.store.database import head_revision
    from schemas.store.database import make_engine
    from schemas.store.database import upgrade

    url = args.database_url or Settings().database_url
    shown = make_url(url).render_as_string(hide_password=True)
    engine = make_engine(url)
    try:
        if args.db_command == "upgrade":
            result = upgrade(engine)
            for step in result.applied:
                print(f"applied {step}")
            print(f"{shown}: {result}")
        else:
            current = current_revision(engine)
            head = head_revision()
            note = "" if current == head else f" (code expects {head}: run `paysaga db upgrade`)"
            print(f"{current or 'none'}{note}")
    except SQLAlchemyError as exc:
        print(f"paysaga db {args.db_command}: {shown}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _search_attributes(args: argparse.Namespace) -> int:
    import asyncio

    from temporalio.client import Client

    from workers.stack import ensure_search_attributes

    async def run() -> list[str] | None:
        deadline = time.monotonic() + args.wait
        while True:
            try:
                client = await Client.connect(args.address, namespace=args.namespace)
                return await ensure_search_attributes(client, args.namespace, say=print)
            except Exception as exc:
                if time.monotonic() > deadline:
                    print(f"paysaga: Temporal at {args.address}: {exc}", file=sys.stderr)
                    return None
                await asyncio.sleep(1.0)

    added = asyncio.run(run())
    if added is None:
        return 1
    if not added:
        print(f"search attributes already registered on namespace {args.namespace!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
