"""The remote codec endpoint, so operators read decrypted payloads in the Temporal UI and CLI.

Temporal's codec server protocol (samples-go ``codec-server``): ``POST {endpoint}/encode``
and ``POST {endpoint}/decode`` take ``{"payloads": [...]}`` (``temporal.api.common.v1
.Payloads`` in protobuf JSON) and answer the same shape, run through our payload codec.

Two ways to present the operators' codec token:

- ``POST /codec/encode|decode`` with ``Authorization: Bearer <token>``: the CLI
  (``temporal workflow show --codec-endpoint {api}/codec --codec-auth "Bearer <token>"``).
- ``POST /codec/{token}/encode|decode``: the Temporal UI, which sends no header of ours;
  the token sits in the endpoint URL it is configured with (``--ui-codec-endpoint``).

The routes are a mounted sub-application with its own CORS policy (only the UI's origins,
only here), outside the OpenAPI document: they are an operators' tool, not the product API.
The app's middleware (body limit, request timeout, metrics) still wraps them. Payload
contents are never logged, and the token is masked in the access log.
"""

import logging
import re
import secrets

from fastapi import FastAPI
from google.protobuf import json_format
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import Mount
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from api.auth import bearer_token
from api.problems import Problem
from schemas.runtime.payload_codec import EncryptionCodec
from schemas.runtime.payload_codec import PayloadDecryptionError
from schemas.runtime.payload_codec import codec_from_settings
from schemas.runtime.settings import Settings

PREFIX = "/codec"
# Every method reaches the handler, which answers 405 itself for all but POST (a preflight
# OPTIONS is answered by the CORS middleware before).
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
CORS_HEADERS = ["Authorization", "Content-Type", "X-Namespace"]
# The UI asks before each batch of decodes; a browser may keep the answer this long.
CORS_MAX_AGE_SECONDS = 600


class CodecEndpoint:
    def __init__(self, codec: EncryptionCodec | None, token: str | None) -> None:
        self._codec = codec
        self._token = token.encode() if token else None

    async def encode_with_header(self, request: Request) -> Response:
        return await self._answer(request, bearer_token(request), encode=True)

    async def decode_with_header(self, request: Request) -> Response:
        return await self._answer(request, bearer_token(request), encode=False)

    async def encode_with_path(self, request: Request) -> Response:
        return await self._answer(request, request.path_params["token"], encode=True)

    async def decode_with_path(self, request: Request) -> Response:
        return await self._answer(request, request.path_params["token"], encode=False)

    async def _answer(self, request: Request, token: str | None, *, encode: bool) -> Response:
        if request.method != "POST":
            # Answered here, not by the router: its 405 would reach the app's handler, which
            # lists the methods of documented paths only (none here).
            return Problem("method_not_allowed", headers={"Allow": "POST"}).response()
        if self._codec is None or self._token is None:
            return Problem(
                "codec_disabled", "set PAYSAGA_CODEC_TOKEN and PAYSAGA_PAYLOAD_KEYS to turn it on"
            ).response()
        if token is None or not secrets.compare_digest(token.encode(), self._token):
            return Problem("codec_unauthorized", headers={"WWW-Authenticate": "Bearer"}).response()
        try:
            payloads = json_format.Parse(await request.body(), Payloads()).payloads
        except (json_format.ParseError, UnicodeDecodeError):
            return Problem(
                "malformed_json", "the body must be Payloads in protobuf JSON"
            ).response()
        try:
            if encode:
                answer = await self._codec.encode(payloads)
            else:
                answer = await self._codec.decode(payloads)
        except PayloadDecryptionError as error:
            # The message names the key id only, never payload bytes.
            return Problem("payload_undecodable", str(error)).response()
        body = json_format.MessageToDict(Payloads(payloads=answer))
        body.setdefault("payloads", [])  # protobuf JSON leaves an empty list out
        return JSONResponse(body)


class HideCodecToken(logging.Filter):
    """Masks the UI's codec URL (its path holds the token) in access log lines."""

    PATH = re.compile(r"/codec/[^/\s\"?]+/(encode|decode)")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.PATH.sub(r"/codec/***/\1", arg) if isinstance(arg, str) else arg
                for arg in record.args
            )
        if isinstance(record.msg, str):
            record.msg = self.PATH.sub(r"/codec/***/\1", record.msg)
        return True


_HIDE_CODEC_TOKEN = HideCodecToken()


def install_codec(app: FastAPI, settings: Settings) -> None:
    """Mounts the codec endpoint; it answers 404 codec_disabled without a codec token or
    payload keys (there is nothing to decode with, or nobody may)."""
    token = settings.codec_token.get_secret_value() if settings.codec_token else None
    # Shown, never acted on: a plaintext payload (the SDK core's local-activity markers, a
    # forged signal the worker refused) is displayed as it is, so operators can see it.
    endpoint = CodecEndpoint(codec_from_settings(settings, accept_plaintext=True), token)
    # A logger's own filter, so it holds whatever handlers logging is configured with
    # (addFilter ignores a filter it already has: apps made again in one process).
    logging.getLogger("uvicorn.access").addFilter(_HIDE_CODEC_TOKEN)
    app.router.routes.append(
        Mount(
            PREFIX,
            routes=[
                Route("/encode", endpoint.encode_with_header, methods=ANY_METHOD),
                Route("/decode", endpoint.decode_with_header, methods=ANY_METHOD),
                Route("/{token}/encode", endpoint.encode_with_path, methods=ANY_METHOD),
                Route("/{token}/decode", endpoint.decode_with_path, methods=ANY_METHOD),
            ],
            middleware=[
                Middleware(
                    CORSMiddleware,
                    allow_origins=settings.codec_cors_origins,
                    allow_methods=["POST"],
                    allow_headers=CORS_HEADERS,
                    max_age=CORS_MAX_AGE_SECONDS,
                )
            ],
        )
    )
