"""HTTP plumbing of the PayPal adapter: OAuth2 tokens, one request in, its JSON object or the
``ApplicationError`` of the provider taxonomy (``activities.providers.errors``) out, and exact
amounts.

==============================================  ===================================
PayPal answer                                   ``ApplicationError``
==============================================  ===================================
422 with a decline issue (INSTRUMENT_DECLINED,  ``Declined``, non-retryable,
PAYER_ACTION_REQUIRED, TRANSACTION_REFUSED …)   DeclineDetails(issue, description)
400 / 403 / 404 / 409 / 422 (other issues)      ``InvalidRequest``, non-retryable
401 again after one token refresh               ``InvalidRequest`` (credentials are wrong)
429, 503, connection refused, connect timeout   ``Unavailable``, retried (Retry-After kept)
other 5xx answering a POST                      ``OutcomeUnknown``, retried with the same key
read/write timeout, connection dropped (POST)   ``OutcomeUnknown``, retried with the same key
any 5xx or transport error answering a GET      ``Unavailable``
==============================================  ===================================

Every money-moving POST carries ``PayPal-Request-Id``: PayPal answers a repeated id with the
first answer and applies nothing twice, which is what makes ``OutcomeUnknown`` safe to retry.
A 503 is taken to mean "not applied" (PayPal's documented meaning of SERVICE_UNAVAILABLE);
any other 5xx may come after the change was committed. The token request moves no money, so
every failure fetching a token is ``Unavailable`` except rejected credentials.
"""

import asyncio
import time
from decimal import Decimal
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
from activities.providers.paypal.currencies import PAYPAL_CURRENCIES
from schemas.errors import INVALID_REQUEST
from schemas.errors import OUTCOME_UNKNOWN
from schemas.money import AmountNotRepresentable
from schemas.money import CurrencyNotSupported

# 422 issues that are the payer's or the funding's answer, not a mistake of ours.
DECLINE_ISSUES = frozenset(
    {
        "INSTRUMENT_DECLINED",
        "PAYER_ACTION_REQUIRED",
        "TRANSACTION_REFUSED",
        "PAYER_CANNOT_PAY",
        "PAYEE_BLOCKED_TRANSACTION",
        "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING",
        "CARD_EXPIRED",
        "COMPLIANCE_VIOLATION",
        "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED",
        "AUTHORIZATION_DENIED",
    }
)

# Refresh a little before PayPal's expiry, so a token never expires in flight.
_TOKEN_MARGIN_SECONDS = 30.0


def paypal_amount(amount: int, currency: str) -> dict[str, str]:
    """PayPal's ``{currency_code, value}``: ISO minor units as an exact decimal string with
    PayPal's decimals, or refused before any call when PayPal cannot take it exactly."""
    try:
        units = PAYPAL_CURRENCIES.to_provider(amount, currency)
    except (CurrencyNotSupported, AmountNotRepresentable) as e:
        raise invalid_request(str(e)) from None
    exponent = PAYPAL_CURRENCIES.api_exponent(currency)
    return {"currency_code": currency, "value": f"{Decimal(units).scaleb(-exponent):.{exponent}f}"}


def minor_units(amount: dict[str, Any] | None) -> int:
    """Minor units of a PayPal ``{currency_code, value}`` (0 when absent), exactly."""
    if not amount:
        return 0
    currency = amount["currency_code"]
    value = Decimal(str(amount["value"])).scaleb(PAYPAL_CURRENCIES.api_exponent(currency))
    if value != value.to_integral_value():
        raise invalid_request(f"paypal amount {amount['value']} has more digits than its currency")
    return PAYPAL_CURRENCIES.from_provider(int(value), currency)


class PayPalHttp:
    def __init__(
        self, base_url: str, client_id: str, client_secret: str, timeout_seconds: float
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=httpx.Timeout(timeout_seconds)
        )
        self._credentials = httpx.BasicAuth(client_id, client_secret)
        self._token: str | None = None
        self._token_expires_at = 0.0  # time.monotonic()
        # One refresh for every caller that finds the token missing or stale.
        self._token_lock = asyncio.Lock()

    async def post(
        self,
        operation: str,
        url: str,
        body: dict[str, Any] | None = None,
        request_id: str | None = None,
        *,
        content: bytes | None = None,
        mutating: bool = True,
    ) -> dict[str, Any]:
        """A POST; ``request_id`` (our idempotency key) makes a retry replay, never reapply.
        ``content``: a body already serialised (kept byte for byte)."""
        headers = {"Prefer": "return=representation", "Content-Type": "application/json"}
        if request_id is not None:
            headers["PayPal-Request-Id"] = request_id
        request = {"headers": headers}
        request |= {"content": content} if content is not None else {"json": body or {}}
        return await self._authorized(operation, "POST", url, request, mutating=mutating)

    async def get(self, operation: str, url: str) -> dict[str, Any]:
        return await self._authorized(operation, "GET", url, {}, mutating=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _authorized(
        self, operation: str, method: str, url: str, request: dict[str, Any], *, mutating: bool
    ) -> dict[str, Any]:
        token = await self._access_token(stale=None)
        response = await self._send(operation, method, url, request, token, mutating=mutating)
        if response.status_code == 401:
            # Revoked or expired early: one refresh, one retry. A second 401 means the
            # credentials themselves are refused, which no retry can fix.
            token = await self._access_token(stale=token)
            response = await self._send(operation, method, url, request, token, mutating=mutating)
            if response.status_code == 401:
                raise invalid_request(f"paypal {operation}: 401 after a token refresh")
        return checked(operation, response, mutating=mutating)

    async def _send(
        self,
        operation: str,
        method: str,
        url: str,
        request: dict[str, Any],
        token: str,
        *,
        mutating: bool,
    ) -> httpx.Response:
        headers = request.get("headers", {}) | {"Authorization": f"Bearer {token}"}
        try:
            return await self._client.request(method, url, **(request | {"headers": headers}))
        except httpx.TransportError as e:
            if not may_have_applied(e, mutating=mutating):
                raise _unreachable(operation, e) from e
            # Read/write timeout or a dropped connection: PayPal may have applied it.
            raise outcome_unknown(
                f"paypal {operation}: outcome unknown ({type(e).__name__}); "
                "retry with the same PayPal-Request-Id"
            ) from e

    async def _access_token(self, stale: str | None) -> str:
        """The cached token, or a new one. ``stale``: the token PayPal just refused; if another
        caller already replaced it, that replacement is used without asking again."""
        async with self._token_lock:
            fresh = time.monotonic() < self._token_expires_at
            if self._token is not None and self._token != stale and fresh:
                return self._token
            self._token = None
            token, expires_in = await self._fetch_token()
            self._token = token
            self._token_expires_at = time.monotonic() + max(
                0.0, expires_in - min(_TOKEN_MARGIN_SECONDS, expires_in / 2)
            )
            return token

    async def _fetch_token(self) -> tuple[str, float]:
        try:
            response = await self._client.post(
                "/v1/oauth2/token",
                data={"grant_type": "client_credentials"},
                auth=self._credentials,
                headers={"Accept": "application/json"},
            )
        except httpx.TransportError as e:  # a token moves no money: never outcome-unknown
            raise _unreachable("oauth2 token", e) from e
        if response.status_code in (400, 401, 403):
            # Never echo the answer: it may repeat what we sent.
            raise invalid_request(
                f"paypal oauth2 token: credentials refused ({response.status_code})"
            )
        data = checked("oauth2 token", response, mutating=False)
        try:
            return str(data["access_token"]), float(data.get("expires_in", 0))
        except (KeyError, TypeError, ValueError) as e:
            raise unavailable("paypal oauth2 token: unreadable answer") from e


def _unreachable(operation: str, error: Exception) -> ApplicationError:
    return unavailable(f"paypal {operation}: unreachable ({type(error).__name__}: {error})")


def checked(operation: str, response: httpx.Response, *, mutating: bool) -> dict[str, Any]:
    """The JSON of a 2xx answer ({} for 204), or the matching ``ApplicationError``."""
    if response.is_success:
        if response.status_code == 204 or not response.content:
            return {}
        return json_object(f"paypal {operation}", response, mutating=mutating)
    raise_for(operation, response, mutating=mutating)


def raise_for(operation: str, response: httpx.Response, *, mutating: bool) -> NoReturn:
    status = response.status_code
    name, issue, description = _error_of(response)
    summary = f"paypal {operation}: {status} {name}" + (f" {issue}" if issue else "")
    if status == 422 and issue in DECLINE_ISSUES:
        raise declined(f"{summary}: declined", issue, description or issue)
    kind = answer_kind(status, mutating=mutating)
    if kind == OUTCOME_UNKNOWN:
        raise outcome_unknown(f"{summary}, outcome unknown")
    if kind == INVALID_REQUEST:
        raise invalid_request(f"{summary}: {description}" if description else summary)
    if status < 400:
        raise unavailable(f"paypal {operation}: unexpected {status}")
    if status == 429:
        raise rate_limited(summary, retry_after(response.headers))
    raise unavailable(summary, retry_after(response.headers))


def _error_of(response: httpx.Response) -> tuple[str, str, str]:
    """PayPal's ``name``, first ``details[].issue`` and its ``description`` (or message)."""
    try:
        error = response.json()
    except ValueError:
        return response.reason_phrase, "", ""
    if not isinstance(error, dict):
        return response.reason_phrase, "", ""
    details = error.get("details") or [{}]
    first = details[0] if isinstance(details[0], dict) else {}
    name = str(error.get("name") or error.get("error") or response.reason_phrase)
    description = str(first.get("description") or error.get("message") or "")
    return name, str(first.get("issue") or ""), description
