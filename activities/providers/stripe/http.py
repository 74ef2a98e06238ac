"""Stripe SDK exceptions → the ``ApplicationError`` of the provider taxonomy (``schemas.errors``).

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

from collections.abc import Mapping
from datetime import timedelta

import httpx
import stripe
from temporalio.exceptions import ApplicationError

from schemas.errors import DECLINED, INVALID_REQUEST, OUTCOME_UNKNOWN, UNAVAILABLE
from schemas.provider import DeclineDetails

# Nothing reached Stripe: safe to retry, even elsewhere.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

_FINAL = (
    stripe.InvalidRequestError,
    stripe.IdempotencyError,
    stripe.AuthenticationError,
    stripe.PermissionError,
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
        return ApplicationError(
            summary, type=UNAVAILABLE, next_retry_delay=_retry_after(error.headers)
        )
    if isinstance(error, stripe.APIConnectionError):
        if isinstance(error.__cause__, _NOT_SENT) or not mutating:
            return ApplicationError(
                f"stripe {operation}: unreachable ({_cause_name(error)})", type=UNAVAILABLE
            )
        return outcome_unknown(
            f"stripe {operation}: outcome unknown ({_cause_name(error)}); "
            "retry with the same idempotency key"
        )
    if status is not None and 400 <= status < 500 and status != 409:
        return invalid_request(f"{summary} (rejected, {status})")
    if mutating and status != 503:
        return outcome_unknown(f"{summary} ({status}, outcome unknown)")
    return ApplicationError(f"{summary} ({status})", type=UNAVAILABLE)


def _error_body(error: stripe.StripeError) -> dict:
    body = error.json_body.get("error") if isinstance(error.json_body, dict) else None
    return body if isinstance(body, dict) else {}


def _cause_name(error: BaseException) -> str:
    cause = error.__cause__
    return type(cause).__name__ if cause is not None else type(error).__name__


def _first_line(error: stripe.StripeError) -> str:
    return (str(error).strip().splitlines() or [""])[0]


def _retry_after(headers: Mapping[str, str] | None) -> timedelta | None:
    value = (headers or {}).get("Retry-After", "") or (headers or {}).get("retry-after", "")
    return timedelta(seconds=int(value)) if str(value).isdigit() else None
