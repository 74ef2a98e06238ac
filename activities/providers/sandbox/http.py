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

from typing import Any
from typing import NoReturn

import httpx
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


class GatewayHttp:
    def __init__(self, base_url: str, timeout_seconds: float, token: str | None = None) -> None:
        """``token``: the gateway's credential, sent on every request (a gateway that has one
        answers 401 to anything without it)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout_seconds), headers=headers
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
            response = await self._client.post(url, json=body, headers=headers)
        except httpx.TransportError as e:
            if not may_have_applied(e, mutating=True):
                raise _unreachable(operation, e) from e
            # Read/write timeout or a dropped connection: the gateway may have applied it.
            raise outcome_unknown(
                f"sandbox {operation}: outcome unknown ({type(e).__name__}); "
                f"retry with idempotency key {idempotency_key}"
            ) from e
        return checked(operation, response, mutating=True)

    async def get(
        self, operation: str, url: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        try:
            response = await self._client.get(url, params=params)
        except httpx.TransportError as e:  # a read changes nothing: always just unavailable
            raise _unreachable(operation, e) from e
        return checked(operation, response, mutating=False)

    async def aclose(self) -> None:
        await self._client.aclose()


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
