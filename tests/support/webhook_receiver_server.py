"""A tenant's webhook receiver as the tests run it, in a process of its own: every
``POST /hooks/{name}`` is verified with the ``standardwebhooks`` library against the secrets
configured for ``{name}``, recorded, and answered as ``{name}`` is configured to.

    python -m tests.support.webhook_receiver_server --port N --state PATH

Control API (used through ``tests.support.webhook_receiver.WebhookReceiver``):

- ``PUT /control/{name}``: JSON with any of ``secrets`` (list of ``whsec_…``), ``mode``,
  ``status`` (what mode ``fail`` answers, 500 by default), ``body_size`` (the answer's body:
  that many bytes instead of a short JSON); keys left out keep their value.
- ``GET /control/{name}/deliveries``: the verified ones (``webhook_id``, ``timestamp``,
  ``body`` (the JSON), ``secret`` (which one verified), ``headers``), oldest first;
  ``/rejected``: the unverifiable ones, answered 400 (``webhook_id``, ``reason``, ``body``);
  ``/redirected``: requests to where mode ``redirect`` points (a sender following it).

Modes: ``ok`` (200, with a cookie), ``fail`` (``status``), ``timeout`` (answers after longer than a
sender's 10 s), ``redirect`` (302 to ``/redirected/{name}``), ``dribble`` (200, then a byte
of body now and then), ``flood`` (200, then body as fast as the connection takes it, with
no end a sender would reach). A rejected delivery is answered 400 whatever the mode.

Everything (configuration and records) is kept in the ``--state`` file, rewritten at every
change, so a receiver stopped and started again (a tenant's endpoint down for a while)
still knows its secrets and what it received. It listens with SO_REUSEADDR: a restart on the
same port does not wait for the previous connections' TIME_WAIT.
"""

import argparse
import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

MODES = ("ok", "fail", "timeout", "redirect", "dribble", "flood")
# Longer than a sender's attempt (10 s): the sender gives up first.
TIMEOUT_MODE_DELAY = 30.0
# How long a dribbled or flooded body goes on (a sender gives up long before).
ENDLESS_BODY_SECONDS = 60.0
DRIBBLE_INTERVAL = 0.2
FLOOD_CHUNK = b"f" * 65536


def _new_endpoint() -> dict[str, Any]:
    return {
        "secrets": [],
        "mode": "ok",
        "status": 500,
        "body_size": None,
        "deliveries": [],
        "rejected": [],
        "redirected": [],
    }


class Receiver:
    def __init__(self, state_path: Path) -> None:
        self.state_path = state_path
        self.endpoints: dict[str, dict[str, Any]] = (
            json.loads(state_path.read_text()) if state_path.exists() else {}
        )

    def endpoint(self, name: str) -> dict[str, Any]:
        return self.endpoints.setdefault(name, _new_endpoint())

    def save(self) -> None:
        staged = self.state_path.with_name(self.state_path.name + ".tmp")
        staged.write_text(json.dumps(self.endpoints))
        staged.replace(self.state_path)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        endpoint = self.endpoint(name)
        body = await request.read()
        headers = {key.lower(): value for key, value in request.headers.items()}
        verified_by, reason = _verifying_secret(endpoint["secrets"], body, headers)
        if verified_by is None:
            endpoint["rejected"].append(
                {
                    "webhook_id": headers.get("webhook-id"),
                    "reason": reason,
                    "body": body.decode(errors="replace"),
                }
            )
            self.save()
            return web.json_response({"error": reason}, status=400)
        endpoint["deliveries"].append(
            {
                "webhook_id": headers.get("webhook-id"),
                "timestamp": headers.get("webhook-timestamp"),
                "body": _json_or_text(body),
                "secret": verified_by,
                "headers": headers,
            }
        )
        self.save()
        return await self.answer(request, name, endpoint)

    async def answer(
        self, request: web.Request, name: str, endpoint: dict[str, Any]
    ) -> web.StreamResponse:
        mode = endpoint["mode"]
        if mode == "timeout":
            await asyncio.sleep(TIMEOUT_MODE_DELAY)
        if mode == "redirect":
            return web.Response(status=302, headers={"Location": f"/redirected/{name}"})
        if mode in ("dribble", "flood"):
            return await _endless_body(request, mode)
        status = endpoint["status"] if mode == "fail" else 200
        if endpoint["body_size"] is not None:
            return web.Response(status=status, body=b"b" * endpoint["body_size"])
        # A sender that keeps cookies would send this one back with its next delivery.
        cookie = {"Set-Cookie": f"receiver={name}; Path=/"}
        return web.json_response({"mode": mode}, status=status, headers=cookie)

    async def redirected(self, request: web.Request) -> web.Response:
        endpoint = self.endpoint(request.match_info["name"])
        endpoint["redirected"].append({"method": request.method})
        self.save()
        return web.json_response({"redirected": True})

    async def configure(self, request: web.Request) -> web.Response:
        endpoint = self.endpoint(request.match_info["name"])
        changes = await request.json()
        unknown = set(changes) - {"secrets", "mode", "status", "body_size"}
        if unknown or changes.get("mode", "ok") not in MODES:
            return web.json_response({"error": f"bad configuration: {changes}"}, status=400)
        endpoint.update(changes)
        self.save()
        return web.json_response({key: endpoint[key] for key in changes})

    async def records(self, request: web.Request) -> web.Response:
        endpoint = self.endpoint(request.match_info["name"])
        return web.json_response(endpoint[request.match_info["kind"]])


def _verifying_secret(
    secrets: list[str], body: bytes, headers: dict[str, str]
) -> tuple[str | None, str]:
    """The first of ``secrets`` whose signature the request carries, or None and why not."""
    reason = "no secret configured"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as e:
            reason = str(e)
        else:
            return secret, ""
    return None, reason


def _json_or_text(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode(errors="replace")


async def _endless_body(request: web.Request, mode: str) -> web.StreamResponse:
    response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ENDLESS_BODY_SECONDS
    try:
        while loop.time() < deadline:
            if mode == "dribble":
                await response.write(b"d")
                await asyncio.sleep(DRIBBLE_INTERVAL)
            else:
                await response.write(FLOOD_CHUNK)
    except (ConnectionError, RuntimeError):
        pass  # the sender closed the connection: what it wanted was read
    return response


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def app(state_path: Path) -> web.Application:
    receiver = Receiver(state_path)
    application = web.Application()
    application.add_routes(
        [
            web.get("/healthz", healthz),
            web.post("/hooks/{name}", receiver.receive),
            web.route("*", "/redirected/{name}", receiver.redirected),
            web.put("/control/{name}", receiver.configure),
            web.get("/control/{name}/{kind:deliveries|rejected|redirected}", receiver.records),
        ]
    )
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    # A handler held in mode timeout must not hold a stop for long.
    web.run_app(app(args.state), sock=sock, shutdown_timeout=0.5, print=None, access_log=None)


if __name__ == "__main__":
    main()
