"""HTTP plumbing of the sandbox gateway client: one request in, its JSON object or the
``ApplicationError`` of the provider taxonomy (``schemas.errors``) out.

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
after the change was committed (a crash or shutdown mid-request answers 500), so it must not
be mistaken for "nothing happened" (which would allow failing over to another provider).
A GET changes nothing, so every 5xx or transport error answering one is ``Unavailable``.
"""

from datetime import timedelta
from typing import Any, NoReturn
from urllib.parse import quote

import httpx
from temporalio.exceptions import ApplicationError

from schemas.errors import DECLINED, INVALID_REQUEST, OUTCOME_UNKNOWN, UNAVAILABLE
from schemas.provider import DeclineDetails

# Nothing reached the gateway: safe to retry, even elsewhere.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def path(*parts: str) -> str:
    """``/v1/...`` with every id segment escaped (``path("charges", id, "capture")``)."""
    return "/v1/" + "/".join(quote(part, safe="") for part in parts)


class GatewayHttp:
    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout_seconds)
        )

    async def post(
        self, operation: str, url: str, body: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """A money-moving POST carrying ``idempotency_key``: retried with the same key after
        ``OutcomeUnknown``, it can never apply twice."""
        try:
            response = await self._client.post(
                url, json=body, headers={"Idempotency-Key": idempotency_key}
            )
        except _NOT_SENT as e:
            raise unavailable(operation, e) from e
        except httpx.TransportError as e:
            # Read/write timeout or a dropped connection: the gateway may have applied it.
            raise ApplicationError(
                f"sandbox {operation}: outcome unknown ({type(e).__name__}); "
                f"retry with idempotency key {idempotency_key}",
                type=OUTCOME_UNKNOWN,
            ) from e
        return checked(operation, response, mutating=True)

    async def get(
        self, operation: str, url: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.get(url, params=params)
        except httpx.TransportError as e:  # a read changes nothing: always just unavailable
            raise unavailable(operation, e) from e
        return checked(operation, response, mutating=False)

    async def aclose(self) -> None:
        await self._client.aclose()


def unavailable(operation: str, error: Exception) -> ApplicationError:
    return ApplicationError(
        f"sandbox {operation}: gateway unreachable ({type(error).__name__}: {error})",
        type=UNAVAILABLE,
    )


def declined(message: str, code: str, reason: str) -> ApplicationError:
    """``Declined``: final, with ``DeclineDetails(code, reason)`` for the workflow."""
    return ApplicationError(
        message,
        DeclineDetails(code=code, message=reason),
        type=DECLINED,
        non_retryable=True,
    )


def invalid_request(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_REQUEST, non_retryable=True)


def checked(operation: str, response: httpx.Response, *, mutating: bool) -> dict[str, Any]:
    """The JSON of a 2xx answer, or the matching ``ApplicationError``. ``mutating``: the request
    could have changed something (a POST)."""
    if response.is_success:
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict):
            return data
        raise ApplicationError(
            f"sandbox {operation}: unreadable {response.status_code} answer",
            type=OUTCOME_UNKNOWN if mutating else UNAVAILABLE,
        )
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
    if status >= 500 and status != 503 and mutating:
        raise ApplicationError(
            f"sandbox {operation}: {status} {code}, outcome unknown: {message}",
            type=OUTCOME_UNKNOWN,
        )
    if status == 429 or status >= 500:
        raise ApplicationError(
            f"sandbox {operation}: {status} {code}: {message}",
            type=UNAVAILABLE,
            next_retry_delay=_retry_after(response),
        )
    if 400 <= status < 500:
        raise invalid_request(f"sandbox {operation} rejected ({status} {code}): {message}")
    raise ApplicationError(f"sandbox {operation}: unexpected {status}", type=UNAVAILABLE)


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return {}
    return error if isinstance(error, dict) else {}


def _retry_after(response: httpx.Response) -> timedelta | None:
    value = response.headers.get("Retry-After", "")
    return timedelta(seconds=int(value)) if value.isdigit() else None
