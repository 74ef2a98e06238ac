"""The remote codec endpoint, so operators read decrypted payloads in the Temporal UI and CLI.

Temporal's codec server protocol (samples-go ``codec-server``): ``POST {endpoint}/decode``
takes ``{"payloads": [...]}`` (``temporal.api.common.v1.Payloads`` in protobuf JSON) and
answers the same shape, run through our payload codec.

Decode only: an ``/encode`` would let whoever holds the codec token seal payloads of their
own, which the workers accept as ours. The credential is ``Authorization: Bearer <token>``
only, never in the URL (a URL lands in proxy logs and in every browser the UI serves):

- the CLI sends it itself (``temporal workflow show --codec-endpoint {api}/codec
  --codec-auth "Bearer <token>"``);
- the Temporal UI cannot: an authenticating proxy in front of the codec adds it
  (docs/operations.md, "Security"; ``make run`` runs a loopback one, workers/stack/codec_proxy.py).

The routes are a mounted sub-application with its own CORS policy (only the UI's origins,
only here), outside the OpenAPI document: they are an operators' tool, not the product API.
The app's middleware (body limit, request timeout, metrics) still wraps them. Payload
contents are never logged.
"""

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

    async def decode(self, request: Request) -> Response:
        if request.method != "POST":
            # Answered here, not by the router: its 405 would reach the app's handler, which
            # lists the methods of documented paths only (none here).
            return Problem("method_not_allowed", headers={"Allow": "POST"}).response()
        if self._codec is None or self._token is None:
            return Problem(
                "codec_disabled", "set PAYSAGA_CODEC_TOKEN and PAYSAGA_PAYLOAD_KEYS to turn it on"
            ).response()
        token = bearer_token(request)
        if token is None or not secrets.compare_digest(token.encode(), self._token):
            return Problem("codec_unauthorized", headers={"WWW-Authenticate": "Bearer"}).response()
        try:
            payloads = json_format.Parse(await request.body(), Payloads()).payloads
        except (json_format.ParseError, UnicodeDecodeError):
            return Problem(
                "malformed_json", "the body must be Payloads in protobuf JSON"
            ).response()
        try:
            answer = await self._codec.decode(payloads)
        except PayloadDecryptionError as error:
            # The message names the key id only, never payload bytes.
            return Problem("payload_undecodable", str(error)).response()
        body = json_format.MessageToDict(Payloads(payloads=answer))
        body.setdefault("payloads", [])  # protobuf JSON leaves an empty list out
        return JSONResponse(body)


def install_codec(app: FastAPI, settings: Settings) -> None:
    """Mounts the codec endpoint; it answers 404 codec_disabled without a codec token or
    payload keys (there is nothing to decode with, or nobody may)."""
    token = settings.codec_token.get_secret_value() if settings.codec_token else None
    # Shown, never acted on: a plaintext payload (the SDK core's local-activity markers, a
    # forged signal the worker refused) is displayed as it is, so operators can see it.
    endpoint = CodecEndpoint(codec_from_settings(settings, accept_plaintext=True), token)
    app.router.routes.append(
        Mount(
            PREFIX,
            routes=[
                Route("/decode", endpoint.decode, methods=ANY_METHOD),
            ],
            middleware=[
                Middleware(
                    CORSMiddleware,
                    allow_origins=settings.codec_cors_origins,
                    allow_methods=["POST"],
                    allow_headers=CORS_HEADERS,
                    # An authenticating proxy in front recognises the operator by the
                    # session cookie of its SSO login (TEMPORAL_CODEC_INCLUDE_CREDENTIALS).
                    allow_credentials=True,
                    max_age=CORS_MAX_AGE_SECONDS,
                )
            ],
        )
    )
