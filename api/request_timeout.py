"""A deadline on every request, so a slow dependency cannot pile up open connections.

A request that has not started its answer by the deadline is cancelled and answered 503
``request_timeout`` with Retry-After. Work already handed to Temporal goes on there; a
money-moving request holds its Idempotency-Key, so the client's retry joins that work.
"""

import asyncio
from dataclasses import dataclass

from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from api.http_middleware import HttpMiddleware
from api.problems import Problem


@dataclass
class RequestTimeoutMiddleware(HttpMiddleware):
    seconds: float

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracking_start(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        deadline = asyncio.timeout(self.seconds)
        try:
            async with deadline:
                await self.app(scope, receive, send_tracking_start)
        except TimeoutError:
            if started or not deadline.expired():
                raise  # half an answer is out: only dropping the connection is honest
            timed_out = Problem(
                "request_timeout",
                f"no answer within {self.seconds:g} s; retry with the same Idempotency-Key",
                headers={"Retry-After": "1"},
            )
            await timed_out.response()(scope, receive, send)
