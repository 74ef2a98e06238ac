"""``python -m workers.sandbox_gateway --host 127.0.0.1 --port 8100 --db .paysaga/gateway.db``

Faults can be set at startup with ``--faults '{"error_rate": 0.1}'`` or the ``SANDBOX_FAULTS``
environment variable (same JSON as ``PUT /v1/faults``); the flag wins.

``PAYSAGA_SANDBOX_GATEWAY_TOKEN`` is its credential (``credential``): every request but the
customer's pages must carry it. Without one it listens on a loopback address only.
"""

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn
from pydantic import ValidationError

from schemas.runtime.settings import API_KEEP_ALIVE_SECONDS
from schemas.runtime.settings import is_placeholder
from workers.sandbox_gateway.app import create_app
from workers.sandbox_gateway.credential import TOKEN_VARIABLE
from workers.sandbox_gateway.faults import FaultConfig
from workers.sandbox_gateway.webhooks import Webhooks
from workers.stack.ports import is_loopback


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m workers.sandbox_gateway", description="Run the sandbox payment gateway."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--db", default=".paysaga/gateway.db", help="SQLite file of its state")
    parser.add_argument(
        "--public-url", default=None, help="base of 3-D Secure links (default: the request's)"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault injector")
    parser.add_argument(
        "--faults",
        default=os.environ.get("SANDBOX_FAULTS"),
        help="fault configuration as JSON (default: $SANDBOX_FAULTS)",
    )
    parser.add_argument(
        "--webhook-url",
        default=os.environ.get("SANDBOX_WEBHOOK_URL"),
        help="where events are sent, signed with $PAYSAGA_SANDBOX_WEBHOOK_SECRET "
        "(default: $SANDBOX_WEBHOOK_URL; none: no events)",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    faults = None
    if args.faults:
        try:
            faults = FaultConfig.model_validate_json(args.faults)
        except ValidationError as e:
            sys.exit(f"invalid fault configuration: {e}")
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    token = os.environ.get(TOKEN_VARIABLE) or None
    if token is not None and is_placeholder(token):
        sys.exit(f"{TOKEN_VARIABLE} is a placeholder: set a real secret")
    if token is None and not is_loopback(args.host):
        sys.exit(
            f"refusing to listen on {args.host} without {TOKEN_VARIABLE}: anyone who reaches "
            "it could list every charge, inject faults and charge"
        )
    secret = os.environ.get("PAYSAGA_SANDBOX_WEBHOOK_SECRET")
    if args.webhook_url and not secret:
        sys.exit("--webhook-url needs PAYSAGA_SANDBOX_WEBHOOK_SECRET to sign its events")
    webhooks = Webhooks(args.webhook_url, secret) if args.webhook_url and secret else None
    app = create_app(
        args.db,
        public_url=args.public_url,
        seed=args.seed,
        faults=faults,
        webhooks=webhooks,
        token=token,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.access_log,
        # Injected hangs must not hold a shutdown for their whole duration.
        timeout_graceful_shutdown=1,
        timeout_keep_alive=API_KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
