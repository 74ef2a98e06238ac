"""Stripe's SDK plumbing: its clients, one call in, the object's dict (or every page of a
list) out, and its exceptions mapped onto the provider taxonomy (``activities.providers.errors``).

The official SDK is used through its async methods on an httpx client, with its own retries
off: Temporal retries, with the same idempotency key. Connect calls (transfers, reversals,
payouts) go to ``connect_api_base`` (default: ``api_base``).

===============================================  ==========================================
Stripe SDK exception                             ``ApplicationError``
===============================================  ==========================================
``CardError`` (402)                              ``Declined``, non-retryable, DeclineDetails
``InvalidRequestError``, ``IdempotencyError``,   ``InvalidRequest``, non-retryable
``AuthenticationError``, ``PermissionError``
``RateLimitError`` (429)                         ``Unavailable``, retried (after Retry-After)
``APIConnectionError``: connect refused/timeout  ``Unavailable``, retried
``APIConnectionError`` after connecting          POST: ``OutcomeUnknown``; GET: ``Unavailable``
``APIError`` 503                                 ``Unavailable``, retried
``APIError`` other 5xx, or 409                   POST: ``OutcomeUnknown``; GET: ``Unavailable``
any other 4xx                                    ``InvalidRequest``, non-retryable
===============================================  ==========================================

Stripe answers 503 only when it did not process the request; any other 5xx to a POST may
come after the change was made, and 409 means another request with the same idempotency key
is still running. Neither may be mistaken for "nothing happened" (``Unavailable`` allows
failing over to another provider), so both are ``OutcomeUnknown``: retried with the same key.
A GET changes nothing, so every failure answering one is at worst ``Unavailable``.

The SDK wraps every transport failure in ``APIConnectionError`` and chains the httpx
exception as ``__cause__``: that cause tells whether the request ever left.
"""

from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

import stripe
from temporalio.exceptions import ApplicationError

from activities.providers.errors import answer_kind
from activities.providers.errors import declined
from activities.providers.errors import invalid_request
from activities.providers.errors import may_have_applied
from activities.providers.errors import outcome_unknown
from activities.providers.errors import rate_limited
from activities.providers.errors import retry_after
from activities.providers.errors import unavailable
from schemas.errors import INVALID_REQUEST
from schemas.errors import OUTCOME_UNKNOWN
from schemas.errors import UNAVAILABLE

PAGE_SIZE = 100

_FINAL = (
    stripe.InvalidRequestError,
    stripe.IdempotencyError,
    stripe.AuthenticationError,
    stripe.PermissionError,
)

ListPage = Callable[[dict[str, Any]], Awaitable[stripe.ListObject]]


class StripeHttp:
    """The SDK clients: ``platform`` for charges, refunds and balance transactions,
    ``connect`` for transfers and payouts (the same client unless another base is given)."""

    def __init__(
        self,
        api_key: str,
        api_base: str | None,
        connect_api_base: str | None,
        timeout_seconds: float,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout_seconds)
        self.platform = _client(api_key, api_base, self._http)
        self._connect_http: stripe.HTTPXClient | None = None
        self.connect = self.platform
        if connect_api_base and connect_api_base != api_base:
            self._connect_http = stripe.HTTPXClient(timeout=timeout_seconds)
            self.connect = _client(api_key, connect_api_base, self._connect_http)
        self.page_size = page_size

    async def pages(
        self, operation: str, list_page: ListPage, filters: dict[str, Any]
    ) -> AsyncIterator[dict[str, Any]]:
        """Every object of a Stripe list, following ``has_more`` / ``starting_after``."""
        params = {**filters, "limit": self.page_size}
        while True:
            page = await get(operation, list_page(params))
            data = page.get("data") or []
            for item in data:
                yield item
            if not page.get("has_more") or not data:
                return
            params["starting_after"] = data[-1]["id"]

    async def newest(
        self,
        operation: str,
        list_page: ListPage,
        filters: dict[str, Any],
        metadata_key: str,
        ours: str,
    ) -> dict[str, Any] | None:
        """The newest listed object whose ``metadata[metadata_key]`` is ``ours``."""
        newest: dict[str, Any] | None = None
        async for item in self.pages(operation, list_page, filters):
            if (item.get("metadata") or {}).get(metadata_key) != ours:
                continue
            if newest is None or item.get("created", 0) >= newest.get("created", 0):
                newest = item
        return newest

    async def aclose(self) -> None:
        await self._http.close_async()
        if self._connect_http is not None:
            await self._connect_http.close_async()


def _client(api_key: str, api_base: str | None, http: stripe.HTTPClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base.rstrip("/")} if api_base else None,
        http_client=http,
        max_network_retries=0,
    )


def idempotent(command: Any) -> stripe.RequestOptions:
    """The request options of a money-moving call: the command's idempotency key."""
    return {"idempotency_key": command.idempotency_key}


async def post(operation: str, call: Awaitable[Any]) -> dict[str, Any]:
    try:
        return (await call).to_dict()
    except stripe.StripeError as e:
        raise stripe_failure(operation, e, mutating=True) from e


async def get(operation: str, call: Awaitable[Any]) -> dict[str, Any]:
    try:
        return (await call).to_dict()
    except stripe.StripeError as e:
        raise stripe_failure(operation, e, mutating=False) from e


def stripe_failure(
    operation: str, error: stripe.StripeError, *, mutating: bool
) -> ApplicationError:
    """The taxonomy error for ``error``; ``mutating``: the request could have changed
    something (a POST)."""
    status = error.http_status
    code = str(error.code or (f"http_{status}" if status else type(error).__name__))
    summary = f"stripe {operation}: {code}: {error.user_message or _first_line(error)}"
    if isinstance(error, stripe.CardError):
        body = _error_body(error)
        decline_code = str(body.get("decline_code") or error.code or "card_declined")
        reason = error.user_message or "declined"
        return declined(
            f"stripe {operation} declined: {decline_code}: {reason}", decline_code, reason
        )
    if isinstance(error, _FINAL):
        return invalid_request(f"{summary} (rejected, {status})")
    if isinstance(error, stripe.RateLimitError):
        return rate_limited(summary, retry_after(error.headers))
    if isinstance(error, stripe.APIConnectionError):
        if not may_have_applied(error.__cause__, mutating=mutating):
            return unavailable(f"stripe {operation}: unreachable ({_cause_name(error)})")
        return outcome_unknown(
            f"stripe {operation}: outcome unknown ({_cause_name(error)}); "
            "retry with the same idempotency key"
        )
    if status is not None and 400 <= status < 600 and status != 409:
        kind = answer_kind(status, mutating=mutating)
    else:  # no status, or 409: a request with the same key is still running
        kind = OUTCOME_UNKNOWN if mutating else UNAVAILABLE
    if kind == INVALID_REQUEST:
        return invalid_request(f"{summary} (rejected, {status})")
    if kind == OUTCOME_UNKNOWN:
        return outcome_unknown(f"{summary} ({status}, outcome unknown)")
    return unavailable(f"{summary} ({status})")


def _error_body(error: stripe.StripeError) -> dict:
    body = error.json_body.get("error") if isinstance(error.json_body, dict) else None
    return body if isinstance(body, dict) else {}


def _cause_name(error: BaseException) -> str:
    cause = error.__cause__
    return type(cause).__name__ if cause is not None else type(error).__name__


def _first_line(error: stripe.StripeError) -> str:
    return (str(error).strip().splitlines() or [""])[0]
