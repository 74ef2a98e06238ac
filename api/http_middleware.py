"""The base of this API's middlewares: plain ASGI, so they see each message of a request's
body and the start of its answer as they pass."""

from dataclasses import dataclass

from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send


@dataclass
class HttpMiddleware:
    """Acts on HTTP requests (``http``); anything else (the lifespan) goes to the app as is."""

    app: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
