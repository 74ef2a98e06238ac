"""The embedded stack's codec proxy: the local Temporal UI decodes payloads through it.

``python -m workers.stack.codec_proxy --port 8234 --upstream http://127.0.0.1:8000/codec``

The API's codec endpoint takes its credential in the ``Authorization`` header only, which the
UI's browser cannot send. In production an authenticating proxy (SSO) in front of the codec
adds it; on the stack's loopback address, where the UI has no login either, this one does:
it forwards ``/codec/decode`` (and the browser's CORS preflight) to the API with the stack's
own ``PAYSAGA_CODEC_TOKEN`` added, and nothing else. It listens on loopback only.
"""

import argparse
import os
import sys
from collections.abc import AsyncIterator
from collections.abc import Sequence
from contextlib import asynccontextmanager

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.responses import Response
from starlette.routing import Route

from workers.stack.ports import is_loopback

# What the browser's request may carry on, and what of the API's answer goes back.
FORWARDED = ("content-type", "origin", "x-namespace", "access-control-request-method")
FORWARDED += ("access-control-request-headers",)
ANSWERED = ("content-type", "allow", "vary", "www-authenticate")


def create_proxy(
    upstream: str, token: str, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    client = httpx.AsyncClient(timeout=30, transport=transport)

    async def decode(request: Request) -> Response:
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        if request.method == "POST":  # a preflight carries no credential
            headers["authorization"] = f"Bearer {token}"
        answer = await client.request(
            request.method, f"{upstream}/decode", content=await request.body(), headers=headers
        )
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name in ANSWERED or name.startswith("access-control-")
        }
        return Response(answer.content, answer.status_code, headers=kept)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return Starlette(
        routes=[
            Route("/codec/decode", decode, methods=["POST", "OPTIONS"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.stack.codec_proxy")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8234)
    parser.add_argument("--upstream", default="http://127.0.0.1:8000/codec")
    args = parser.parse_args(argv)
    token = os.environ.get("PAYSAGA_CODEC_TOKEN")
    if not token:
        print("PAYSAGA_CODEC_TOKEN is not set", file=sys.stderr)
        return 2
    if not is_loopback(args.host):
        # Whoever reaches it decodes as the stack's operator.
        print(f"the codec proxy listens on loopback only, not {args.host}", file=sys.stderr)
        return 2
    uvicorn.run(create_proxy(args.upstream, token), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
