"""HTTP plumbing of the sandbox gateway client: one request in, its JSON object or the
``ApplicationError`` of the provider taxonomy (``activities.providers.errors``) out.

==============================================  ===================================
gateway answer                                  ``ApplicationError``
==============================================  ===================================
402 (declined, refused, balance insufficient)   ``Declined``, non-retryable, DeclineDetails
400 / 404 / 409 / 422 (and other 4xx)           ``InvalidRequest``, non-retryable
429, 503, connection refused, connect timeout   ``Unavailable``, retried
500 / 502 / 504 answering a POST                ``OutcomeUnknown``, retried with the same key
read/write timeout, connection dropped mid-way  ``OutcomeUnknown``, retried with the same key
==============================================  ===================================

The gateway answers 503 only *before* applying anything; any other 5xx to a POST may come
after the change was committed (a crash or shutdown mid-request answers 500). A GET changes
nothing, so every 5xx or transport error answering one is ``Unavailable``.
"""

import asyncio
from typing import Any
from typing import NoReturn

import aiohttp
import httpx
from opentelemetry import propagate
from opentelemetry import trace
from temporalio.exceptions import ApplicationError

from activities.providers.errors import answer_kind
from activities.providers.errors import declined
from activities.providers.errors import invalid_request
from activities.providers.errors import json_object
from activities.providers.errors import may_have_applied
from activities.providers.errors import outcome_unknown
from activities.providers.errors import rate_limited
from activities.providers.errors import retry_after
from activities.providers.errors import unavailable
from schemas.errors import INVALID_REQUEST
from schemas.errors import OUTCOME_UNKNOWN

# What a call can raise on the way: aiohttp's own errors, and its timeouts' asyncio.TimeoutError.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)

_tracer = trace.get_tracer(__name__)


class GatewayHttp:
    """Over aiohttp: every payment makes a call, and aiohttp's client costs a sixth of
    httpx's CPU per request. The answer is handed on as an ``httpx.Response`` so that it is
    read by the rules every adapter shares (``activities.providers.errors``)."""

    def __init__(self, base_url: str, timeout_seconds: float, token: str | None = None) -> None:
        """``token``: the gateway's credential, sent on every request (a gateway that has one
        answers 401 to anything without it)."""
        self._base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        # As httpx.Timeout(seconds): each phase (a connection, each read) gets that long.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeout_seconds,
            sock_connect=timeout_seconds,
            sock_read=timeout_seconds,
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        """The session of the running event loop (a session serves one loop only)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers=self._headers, raise_for_status=False
            )
            self._loop = loop
        return self._session

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json: dict | None = None,
        params: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        full_url = self._base_url + url
        with _tracer.start_as_current_span(
            method,
            kind=trace.SpanKind.CLIENT,
            attributes={"http.request.method": method, "url.full": full_url},
        ) as span:
            headers = dict(headers or {})
            propagate.inject(headers)  # the provider sees our trace, never a client's
            async with self._client().request(
                method,
                full_url,
                json=json,
                params=params,
                headers=headers,
                allow_redirects=False,
            ) as answer:
                content = await answer.read()
            span.set_attribute("http.response.status_code", answer.status)
        return httpx.Response(
            answer.status,
            headers=list(answer.raw_headers),
            content=content,
            extensions={"reason_phrase": (answer.reason or "").encode()},
        )

    async def post(
        self, operation: str, url: str, body: dict[str, Any], idempotency_key: str | None
    ) -> dict[str, Any]:
        """A money-moving POST carrying ``idempotency_key``: retried with the same key after
        ``OutcomeUnknown``, it can never apply twice. None only for what creates nothing
        that lasts (an onboarding link: single use, expiring in minutes) or only sets a value
        (a customer's default method)."""
        headers = {} if idempotency_key is None else {"Idempotency-Key": idempotency_key}
        try:
            response = await self._send("POST", url, json=body, headers=headers)
        except TRANSPORT_ERRORS as e:
            if not may_have_applied(e, mutating=True):
                raise _unreachable(operation, e) from e
            # Read timeout or a dropped connection: the gateway may have applied it.
            raise outcome_unknown(
                f"sandbox {operation}: outcome unknown ({type(e).__name__}); "
                f"retry with idempotency key {idempotency_key}"
            ) from e
        return checked(operation, response, mutating=True)

    async def get(
        self, operation: str, url: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._send("GET", url, params=params)
        except TRANSPORT_ERRORS as e:  # a read changes nothing: always just unavailable
            raise _unreachable(operation, e) from e
        return checked(operation, response, mutating=False)

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _unreachable(operation: str, error: Exception) -> ApplicationError:
    return unavailable(
        f"sandbox {operation}: gateway unreachable ({type(error).__name__}: {error})"
    )


def checked(operation: str, response: httpx.Response, *, mutating: bool) -> dict[str, Any]:
    """The JSON of a 2xx answer, or the matching ``ApplicationError``. ``mutating``: the request
    could have changed something (a POST)."""
    if response.is_success:
        return json_object(f"sandbox {operation}", response, mutating=mutating)
    raise_for(operation, response, mutating=mutating)


def raise_for(operation: str, response: httpx.Response, *, mutating: bool) -> NoReturn:
    status = response.status_code
    error = _error_of(response)
    code = str(error.get("code") or f"http_{status}")
    message = str(error.get("message") or response.reason_phrase)
    if status == 402:
        decline_code = str(error.get("decline_code") or code)
        summary = f"sandbox {operation} declined: {decline_code}: {message}"
        raise declined(summary, decline_code, message)
    kind = answer_kind(status, mutating=mutating)
    if kind == OUTCOME_UNKNOWN:
        raise outcome_unknown(f"sandbox {operation}: {status} {code}, outcome unknown: {message}")
    if kind == INVALID_REQUEST:
        raise invalid_request(f"sandbox {operation} rejected ({status} {code}): {message}")
    if status < 400:
        raise unavailable(f"sandbox {operation}: unexpected {status}")
    summary = f"sandbox {operation}: {status} {code}: {message}"
    if status == 429:
        raise rate_limited(summary, retry_after(response.headers))
    raise unavailable(summary, retry_after(response.headers))


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}
