"""The provider error taxonomy (``schemas.errors``) as the ``ApplicationError`` every adapter
raises, and the rules all providers share for deciding which one an answer is.

``Declined`` and ``InvalidRequest`` are final. ``Unavailable`` says nothing was applied, so
it is retried, and failing over to another provider is safe. ``OutcomeUnknown`` says it may
have been applied: it is retried with the same idempotency key, never sent elsewhere.
"""

from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any

import aiohttp
import httpx
from temporalio.exceptions import ApplicationError

from schemas.errors import DECLINED
from schemas.errors import INVALID_REQUEST
from schemas.errors import OUTCOME_UNKNOWN
from schemas.errors import UNAVAILABLE
from schemas.provider import DeclineDetails

# Transport errors raised before the request left: nothing reached the provider. httpx's,
# and aiohttp's (no connection made within the connect timeout, or no URL to send to).
NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
    aiohttp.ClientConnectorError,
    aiohttp.ConnectionTimeoutError,
    aiohttp.InvalidURL,
)


def declined(message: str, code: str, reason: str) -> ApplicationError:
    """``Declined``: final, with ``DeclineDetails(code, reason)`` for the workflow."""
    return ApplicationError(
        message, DeclineDetails(code=code, message=reason), type=DECLINED, non_retryable=True
    )


def invalid_request(message: str) -> ApplicationError:
    return ApplicationError(message, type=INVALID_REQUEST, non_retryable=True)


def outcome_unknown(message: str) -> ApplicationError:
    return ApplicationError(message, type=OUTCOME_UNKNOWN)


def unavailable(message: str, retry_after: timedelta | None = None) -> ApplicationError:
    """``Unavailable``, retried after ``retry_after`` when the provider said how long."""
    return ApplicationError(message, type=UNAVAILABLE, next_retry_delay=retry_after)


class RateLimited(ApplicationError):
    """``Unavailable`` because the provider asked us to slow down (HTTP 429): backpressure,
    not ill health, so the circuit breaker does not count it; the activity is retried after
    the provider's Retry-After like any ``Unavailable``."""


def rate_limited(message: str, retry_after: timedelta | None = None) -> ApplicationError:
    """``Unavailable`` for a provider's 429, marked so that the circuit breaker ignores it."""
    return RateLimited(message, type=UNAVAILABLE, next_retry_delay=retry_after)


def timezone_aware(moment: datetime, label: str) -> datetime:
    """``moment``, or ``InvalidRequest`` if it has no time zone (``label`` names it)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid_request(f"{label} must be timezone-aware")
    return moment


def retry_after(headers: Mapping[str, str] | None) -> timedelta | None:
    """The delay of a ``Retry-After: <seconds>`` header (any case), or None."""
    value = next(
        (value for name, value in (headers or {}).items() if name.lower() == "retry-after"), ""
    )
    return timedelta(seconds=int(value)) if str(value).isdigit() else None


def may_have_applied(error: BaseException | None, *, mutating: bool) -> bool:
    """Whether a request that failed without an answer can have changed something: only one
    that could (a POST) and that left (``error`` is not one of ``NOT_SENT``)."""
    return mutating and not isinstance(error, NOT_SENT)


def answer_kind(status: int, *, mutating: bool) -> str:
    """The taxonomy type of an HTTP error answer that is not a decline.

    429 and 503 are answered before anything is applied. Any other 5xx to a request that
    could change something may come after the change was committed, so it must not be
    mistaken for "nothing happened" (which would allow failing over); a read changed nothing.
    Other 4xx refuse our request. Anything else (a redirect) did nothing.
    """
    if status in (429, 503):
        return UNAVAILABLE
    if status >= 500:
        return OUTCOME_UNKNOWN if mutating else UNAVAILABLE
    if status >= 400:
        return INVALID_REQUEST
    return UNAVAILABLE


def json_object(label: str, response: httpx.Response, *, mutating: bool) -> dict[str, Any]:
    """The JSON object of a 2xx answer. An answer we cannot read tells nothing about what
    happened: ``OutcomeUnknown`` if the request could have changed something."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    message = f"{label}: unreadable {response.status_code} answer"
    raise outcome_unknown(message) if mutating else unavailable(message)
