"""A transparent HTTP proxy in front of a provider's server, for the adapters' contract suite.

    proxy = ProviderProxy([("/v1/transfers", connect_url), ("", localstripe_url)], error_body)
    with serve_app(proxy.app, "proxy") as url:
        proxy.fail_next("error_after_apply")
        ...  # the adapter, built on ``url``

It records every request (what an adapter sent, headers included) and fails the next request
under ``path_prefix`` the way a provider can fail: ``refuse`` answers ``status`` before the
server sees the request (nothing applied), ``error_after_apply`` forwards it and answers 500,
``stall_after_apply`` forwards it and answers only after ``stall_seconds``. An error answer
carries the provider's own error body (``error_body(status)``). Otherwise every request goes
to the first upstream whose prefix its path starts with, and its answer comes back as it is.
"""

import asyncio
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import Route

FaultMode = Literal["refuse", "error_after_apply", "stall_after_apply"]
# Hop-by-hop, or no longer true once httpx has decoded the body.
_NOT_FORWARDED = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case


@dataclass
class Fault:
    mode: FaultMode
    path_prefix: str
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    stall_seconds: float = 2.0


class ProviderProxy:
    def __init__(
        self,
        upstreams: Sequence[tuple[str, str]],
        error_body: Callable[[int], dict[str, Any]],
        path_prefix: str = "/",
    ) -> None:
        self.upstreams = list(upstreams)
        self.error_body = error_body
        self.path_prefix = path_prefix  # faults only hit requests under it
        self.url = ""  # where it is served, once it is
        self.requests: list[Seen] = []
        self._faults: list[Fault] = []
        methods = ["GET", "POST", "DELETE", "PUT", "PATCH"]
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=methods)])

    def fail_next(
        self,
        mode: FaultMode,
        *,
        status: int = 500,
        headers: dict[str, str] | None = None,
        stall_seconds: float = 2.0,
    ) -> None:
        self._faults.append(Fault(mode, self.path_prefix, status, headers or {}, stall_seconds))

    def clear(self) -> None:
        self._faults.clear()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(Seen(request.method, request.url.path, headers))
        fault = self._take_fault(request.url.path)
        if fault is not None and fault.mode == "refuse":
            return self._error(fault)
        answer = await self._forward(request, body, headers)
        if fault is not None and fault.mode == "error_after_apply":
            return self._error(fault)
        if fault is not None and fault.mode == "stall_after_apply":
            await asyncio.sleep(fault.stall_seconds)
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in _NOT_FORWARDED}
        return Response(answer.content, status_code=answer.status_code, headers=kept)

    def _take_fault(self, path: str) -> Fault | None:
        for fault in self._faults:
            if path.startswith(fault.path_prefix):
                self._faults.remove(fault)
                return fault
        return None

    def _error(self, fault: Fault) -> Response:
        return JSONResponse(
            self.error_body(fault.status), status_code=fault.status, headers=fault.headers
        )

    async def _forward(
        self, request: Request, body: bytes, headers: dict[str, str]
    ) -> httpx.Response:
        path = request.url.path
        upstream = next(url for prefix, url in self.upstreams if path.startswith(prefix))
        url = f"{upstream}{path}" + (f"?{request.url.query}" if request.url.query else "")
        sent = {k: v for k, v in headers.items() if k not in _NOT_FORWARDED}
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.request(request.method, url, content=body, headers=sent)
