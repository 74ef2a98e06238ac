"""Client of the sandbox gateway (workers/sandbox_gateway), mapping every outcome to the
provider error taxonomy of ``schemas.errors``:

==============================================  ===================================
gateway answer                                  ``ApplicationError``
==============================================  ===================================
402 (declined, capture or 3DS refused)          ``Declined``, non-retryable, DeclineDetails
400 / 404 / 409 / 422 (and other 4xx)           ``InvalidRequest``, non-retryable
429, 503, connection refused, connect timeout   ``Unavailable``, retried
500 / 502 / 504 answering a POST                ``OutcomeUnknown``, retried with the same key
read/write timeout, connection dropped mid-way  ``OutcomeUnknown``, retried with the same key
==============================================  ===================================

The gateway answers 503 only *before* applying anything; any other 5xx to a POST may come
after the change was committed (a crash or shutdown mid-request answers 500), so it must not
be mistaken for "nothing happened" (which would allow failing over to another provider).
A GET changes nothing, so every 5xx to ``retrieve`` is ``Unavailable``.
"""

import logging
from datetime import timedelta
from types import TracebackType
from typing import Any, NoReturn, Self
from urllib.parse import quote

import httpx
from temporalio.exceptions import ApplicationError

from schemas.errors import DECLINED, INVALID_REQUEST, OUTCOME_UNKNOWN, UNAVAILABLE
from schemas.provider import AuthorizeCommand, ChargeCommand, ChargeResult, DeclineDetails

log = logging.getLogger(__name__)

# Nothing reached the gateway: safe to retry, even elsewhere.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


def _masked(payment_method: str) -> str:
    return payment_method[:8] + "…" if len(payment_method) > 8 else payment_method


class SandboxGateway:
    """``PaymentProvider`` over HTTP. Every money-moving POST carries the command's
    ``idempotency_key``, so a retry after ``OutcomeUnknown`` can never apply twice."""

    name = "sandbox"

    def __init__(self, base_url: str, timeout_seconds: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout_seconds)
        )

    async def authorize(self, command: AuthorizeCommand) -> ChargeResult:
        log.info(
            "authorize %s: %d %s with %s (capture=%s)",
            command.payment_id,
            command.amount,
            command.currency,
            _masked(command.payment_method),
            command.capture,
        )
        body = {
            "amount": command.amount,
            "currency": command.currency,
            "payment_method": command.payment_method,
            "capture": command.capture,
            "reference": command.payment_id,
            "customer_id": command.customer_id,
        }
        return await self._post("authorize", "/v1/charges", body, command.idempotency_key)

    async def capture(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("capture", command, {"amount": command.amount})

    async def void(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("void", command, {})

    async def refund(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("refund", command, {"amount": command.amount})

    async def confirm_action(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("confirm", command, {})

    async def retrieve(self, reference: str) -> ChargeResult:
        try:
            response = await self._client.get(_charge_path(reference))
        except httpx.TransportError as e:  # a read changes nothing: always just unavailable
            raise _unavailable("retrieve", e) from e
        return _result(_checked("retrieve", response, mutating=False))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _charge_action(
        self, operation: str, command: ChargeCommand, body: dict[str, Any]
    ) -> ChargeResult:
        log.info("%s %s: charge %s", operation, command.payment_id, command.reference)
        path = f"{_charge_path(command.reference)}/{operation}"
        return await self._post(operation, path, body, command.idempotency_key)

    async def _post(
        self, operation: str, path: str, body: dict[str, Any], idempotency_key: str
    ) -> ChargeResult:
        try:
            response = await self._client.post(
                path, json=body, headers={"Idempotency-Key": idempotency_key}
            )
        except _NOT_SENT as e:
            raise _unavailable(operation, e) from e
        except httpx.TransportError as e:
            # Read/write timeout or a dropped connection: the gateway may have applied it.
            raise ApplicationError(
                f"sandbox {operation}: outcome unknown ({type(e).__name__}); "
                f"retry with idempotency key {idempotency_key}",
                type=OUTCOME_UNKNOWN,
            ) from e
        return _result(_checked(operation, response, mutating=True))


def _charge_path(reference: str) -> str:
    return f"/v1/charges/{quote(reference, safe='')}"


def _unavailable(operation: str, error: Exception) -> ApplicationError:
    return ApplicationError(
        f"sandbox {operation}: gateway unreachable ({type(error).__name__}: {error})",
        type=UNAVAILABLE,
    )


def _checked(operation: str, response: httpx.Response, *, mutating: bool) -> dict[str, Any]:
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
    _raise_for(operation, response, mutating=mutating)


def _raise_for(operation: str, response: httpx.Response, *, mutating: bool) -> NoReturn:
    status = response.status_code
    error = _error_of(response)
    code = str(error.get("code") or f"http_{status}")
    message = str(error.get("message") or response.reason_phrase)
    if status == 402:
        decline_code = str(error.get("decline_code") or code)
        raise ApplicationError(
            f"sandbox {operation} declined: {decline_code}: {message}",
            DeclineDetails(code=decline_code, message=message),
            type=DECLINED,
            non_retryable=True,
        )
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
        raise ApplicationError(
            f"sandbox {operation} rejected ({status} {code}): {message}",
            type=INVALID_REQUEST,
            non_retryable=True,
        )
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


def _result(data: dict[str, Any]) -> ChargeResult:
    if data.get("status") == "declined":  # a retrieved charge that was refused
        failure = data.get("failure") or {}
        code = str(failure.get("decline_code") or failure.get("code") or "declined")
        message = str(failure.get("message") or "declined")
        raise ApplicationError(
            f"sandbox charge {data.get('id')} is declined: {code}",
            DeclineDetails(code=code, message=message),
            type=DECLINED,
            non_retryable=True,
        )
    next_action = data.get("next_action") or {}
    return ChargeResult(
        reference=data["id"],
        status=data["status"],
        amount=data["amount"],
        authorized_amount=data.get("amount_authorized", 0),
        captured_amount=data.get("amount_captured", 0),
        refunded_amount=data.get("amount_refunded", 0),
        next_action_url=next_action.get("url"),
    )
