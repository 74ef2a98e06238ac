"""``paysaga webhooks listen``: a local receiver for trying webhook endpoints out. It
verifies every delivery with the ``standardwebhooks`` library, as a merchant's server would,
prints each event it accepts (type, id, object) and answers 200; a delivery that does not
verify is answered 400 and printed as refused."""

import argparse
import json

from aiohttp import web
from rich.console import Console
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def add_listen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9009)
    parser.add_argument(
        "--secret",
        required=True,
        help="the endpoint's signing secret (whsec_…), shown when it was registered",
    )


def listener(secret: str, console: Console) -> web.Application:
    verifier = Webhook(secret)

    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            event = verifier.verify(body, dict(request.headers))
        except WebhookVerificationError as error:
            console.print(f"[red]refused[/] {request.headers.get('webhook-id')}: {error}")
            return web.json_response({"error": str(error)}, status=400)
        subject = event.get("data", {}).get("object", {})
        object_id = next((v for k, v in subject.items() if k.endswith("_id")), None)
        console.print(
            f"[green]verified[/] {event.get('type')} {request.headers['webhook-id']} "
            f"{object_id or ''} status={subject.get('status')}"
        )
        console.print_json(json.dumps(event), indent=None)
        return web.json_response({"received": True})

    app = web.Application(client_max_size=1024**2)
    app.router.add_post("/{path:.*}", receive)
    return app


def main(args: argparse.Namespace) -> int:
    console = Console(highlight=False)
    console.print(
        f"listening on http://{args.host}:{args.port}/ (register that URL as the endpoint); "
        "Ctrl-C stops"
    )
    web.run_app(listener(args.secret, console), host=args.host, port=args.port, print=None)
    return 0
