"""Refuse request bodies over the limit with 413 problem+json, before they are read whole.

Starlette's own limiter answers in plain text; every error of this API is RFC 9457.
"""

from dataclasses import dataclass

from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from api.http_middleware import HttpMiddleware
from api.problems import Problem


@dataclass
class BodyLimitMiddleware(HttpMiddleware):
    max_bytes: int

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = next((v for n, v in scope["headers"] if n == b"content-length"), b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        overflowed = False

        async def counting_receive() -> Message:
            nonlocal received, overflowed
            if overflowed:
                return {"type": "http.disconnect"}
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                # End the body here, so nothing more is buffered; whatever the app answers
                # to the truncated body is replaced by the 413 below.
                overflowed = True
                return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def guarded_send(message: Message) -> None:
            if not overflowed:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(scope, receive, send)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = Problem("payload_too_large", f"bodies are limited to {self.max_bytes} bytes")
        await refused.response()(scope, receive, send)
