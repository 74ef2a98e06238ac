"""RFC 9457 problem+json for every error the API returns; no input is ever echoed back.

``CATALOGUE`` is the one list of problem codes: each code's status and title. A problem is
raised by its code (``Problem("payment_not_found")``), with a ``detail`` that says which and
why; the OpenAPI document's examples are generated from the same list (api/openapi.py).
"""

import logging
import re
from typing import Any

from fastapi import FastAPI
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.store.quotas import QuotaExceeded

_log = logging.getLogger("paysaga.api")

PROBLEM_JSON = "application/problem+json"

# code: (status, title). The codes and their statuses are a stable contract: clients branch
# on them. Titles are prose, one per code; the detail of each problem says more.
CATALOGUE: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "Request body is not valid JSON"),
    "invalid_cursor": (400, "The cursor is not one this API issued"),
    "invalid_webhook_signature": (400, "The webhook signature is invalid or stale"),
    "missing_api_key": (401, "Send a secret key: Authorization: Bearer sk_…"),
    "invalid_api_key": (401, "The API key is unknown, expired or revoked"),
    "invalid_admin_key": (401, "The admin key is missing or wrong"),
    "codec_unauthorized": (401, "The codec token is missing or wrong"),
    "metrics_unauthorized": (401, "The metrics token is missing or wrong"),
    "not_found": (404, "Not Found"),
    "payment_not_found": (404, "No such payment"),
    "refund_not_found": (404, "No such refund"),
    "connected_account_not_found": (404, "No such connected account"),
    "payout_not_found": (404, "No such payout"),
    "payout_schedule_not_found": (404, "This account has no payout schedule"),
    "invoice_not_found": (404, "No such invoice"),
    "installment_plan_not_found": (404, "No such installment plan"),
    "plan_not_found": (404, "No such plan"),
    "customer_not_found": (404, "No such customer"),
    "saved_payment_method_not_found": (404, "The customer has no such saved payment method"),
    "subscription_not_found": (404, "No such subscription"),
    "dispute_not_found": (404, "No such dispute"),
    "event_not_found": (404, "No such event"),
    "webhook_endpoint_not_found": (404, "No such webhook endpoint"),
    "webhook_delivery_not_found": (404, "The webhook endpoint has no such delivery"),
    "email_settings_not_found": (404, "No email settings"),
    "rule_set_not_found": (404, "No such risk rule set version"),
    "tenant_not_found": (404, "No such tenant"),
    "api_key_not_found": (404, "No such API key"),
    "admin_api_disabled": (404, "The admin API is off (no PAYSAGA_ADMIN_KEY)"),
    "provider_not_configured": (404, "This provider is not configured here"),
    # The codec endpoint for the Temporal UI and CLI (api/codec.py): an operators' tool,
    # not in the OpenAPI document.
    "codec_disabled": (404, "The codec endpoint is off"),
    "method_not_allowed": (405, "Method Not Allowed"),
    "invalid_state": (409, "The resource is not in a state for this"),
    "invalid_plan_state": (409, "The installment plan is not in a state for this"),
    "idempotency_in_progress": (409, "A request with this Idempotency-Key is in progress"),
    "tenant_exists": (409, "A tenant with this id exists"),
    "api_key_inactive": (409, "Only an active key can be rotated"),
    "invoice_locked": (409, "The invoice cannot change once payment has started"),
    "invoice_expired": (409, "The invoice has expired"),
    "invoice_changed": (409, "The invoice changed while the plan was made"),
    "installment_out_of_order": (409, "Installments are paid in order"),
    "rules_version_conflict": (409, "Another rule set was stored at the same time"),
    "dispute_closed": (409, "The dispute is closed"),
    "dispute_refused": (409, "The provider refused this for the dispute"),
    # 409, not 429: a quota is the tenant's state, which waiting does not change; a 429
    # (with its Retry-After) tells clients and SDKs to back off and send it again.
    "quota_exceeded": (409, "The tenant holds as many of these as it may"),
    "payload_too_large": (413, "Request body is too large"),
    # A body that does not fit its schema: the first invalid field names the code.
    "validation_error": (422, "Request is invalid"),
    "invalid_header": (422, "Request is invalid"),
    "invalid_amount": (422, "Request is invalid"),
    "invalid_currency": (422, "Request is invalid"),
    "invalid_payment_method": (422, "Request is invalid"),
    "unknown_provider": (422, "Request is invalid"),
    "invalid_capture_method": (422, "Request is invalid"),
    "invalid_customer_id": (422, "Request is invalid"),
    "invalid_metadata": (422, "Request is invalid"),
    "invalid_description": (422, "Request is invalid"),
    "invalid_period": (422, "The period is not valid"),
    "idempotency_mismatch": (422, "Idempotency-Key reused with a different request"),
    "amount_exceeds_authorized": (422, "Amount too large"),
    "amount_exceeds_refundable": (422, "Refund exceeds what is left to refund"),
    "insufficient_balance": (422, "The merchant balance cannot cover this"),
    "below_minimum": (422, "Less than the minimum payout is available"),
    "payouts_not_enabled": (422, "The provider has not enabled payouts for this account"),
    "provider_refused": (422, "The provider refused this request"),
    "invalid_installments": (422, "The installments do not fit the total"),
    "amount_exceeds_outstanding": (422, "Amount exceeds what is outstanding"),
    "invalid_start_at": (422, "start_at is out of range"),
    "invalid_resume_at": (422, "resume_at must be in the future"),
    "plan_unchanged": (422, "The subscription is on this plan already"),
    "plan_change_not_supported": (422, "Plans can change only within a currency and interval"),
    "no_eligible_provider": (422, "No configured provider accepts this payment"),
    "provider_disabled": (422, "This provider is not enabled here"),
    "currency_not_supported": (422, "The provider does not take this currency"),
    "amount_not_representable": (422, "The provider cannot take this amount exactly"),
    "provider_cannot_save_methods": (422, "This provider keeps no saved payment methods here"),
    "payment_method_refused": (422, "The provider refused to save this payment method"),
    "invalid_webhook_url": (422, "Webhooks cannot be sent to this URL"),
    "payload_undecodable": (422, "A payload cannot be decoded"),
    "rate_limited": (429, "Too many requests"),
    "too_many_failed_authentications": (429, "Too many failed authentications; wait and retry"),
    "too_many_failed_admin_authentications": (
        429,
        "Too many wrong admin keys; the admin API is locked out for a while",
    ),
    "too_many_rejected_webhooks": (429, "Too many webhooks with a bad signature; wait and retry"),
    "too_many_reconciliation_reports": (429, "Too many reconciliation reports; wait and retry"),
    "internal_error": (500, "Internal error"),
    "temporal_unavailable": (503, "Temporal is unreachable"),
    "provider_unavailable": (503, "The provider did not answer"),
    "request_timeout": (503, "The request took too long"),
    "not_ready": (503, "A dependency is not ready"),
    "ledger_unavailable": (503, "The ledger is unavailable"),
    "database_unavailable": (503, "The database is unavailable"),
    "report_in_progress": (503, "The report is still being built"),
}
# The first invalid field names the code, so clients can branch without parsing messages.
FIELD_CODES = {
    "amount": "invalid_amount",
    "currency": "invalid_currency",
    "payment_method": "invalid_payment_method",
    "provider": "unknown_provider",
    "capture_method": "invalid_capture_method",
    "customer_id": "invalid_customer_id",
    "metadata": "invalid_metadata",
    "description": "invalid_description",
}
# FastAPI raises a bare 400 only when it cannot parse the body (bad UTF-8, nesting too deep).
STATUS_CODES = {
    400: "malformed_json",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}
# A field path names our fields; a client's own key (unknown field, metadata key) is shown
# only if it looks like a field name (no digits), so a card number sent as a key is never
# echoed: any other key shows as "*".
SAFE_KEY = re.compile(r"\A[A-Za-z_][A-Za-z_\-]{0,39}\Z")


class Problem(Exception):
    """An answer with a catalogue code; ``extra`` adds members (``errors``, ``checks``)."""

    def __init__(
        self,
        code: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        self.status, self.title = CATALOGUE[code]
        super().__init__(detail or self.title)
        self.code, self.detail, self.extra = code, detail, extra
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        response = _problem_json(self.status, self.code, self.title, self.detail, **self.extra)
        response.headers.update(self.headers)
        return response


def outage(code: str, cause: BaseException | str) -> Problem:
    """The 503 ``code`` for a dependency that failed. Its own message (SQL, host names,
    ports, credentials in a URL) is for operators: it goes to the log, never to the client."""
    _log.warning("%s: %s", code, cause)
    return Problem(code)


def _problem_json(
    status: int, code: str, title: str, detail: str | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": f"urn:paysaga:problem:{code}", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def invalid_request(fields: list[dict[str, str]], code: str = "validation_error") -> Problem:
    """A 422 naming each invalid field (``field``, ``message``, ``type``); the first one is
    the detail."""
    return Problem(code, f"{fields[0]['field']}: {fields[0]['message']}", errors=fields)


def _validation_problem(exc: RequestValidationError) -> Problem:
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return Problem("malformed_json")
    fields = [
        {
            "field": ".".join(safe_field(part) for part in error["loc"][1:]) or error["loc"][0],
            "message": error["msg"],
            "type": error["type"],
        }
        for error in errors
    ]
    first = errors[0]["loc"]
    field = first[1] if len(first) > 1 and first[0] == "body" else None
    if first[0] == "header":
        code = "invalid_header"
    else:
        code = FIELD_CODES.get(str(field), "validation_error")
    return invalid_request(fields, code)


def safe_field(part: str | int) -> str:
    if isinstance(part, int) or SAFE_KEY.match(part) or part == "[key]":
        return str(part)
    return "*"


def _allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives this path (routes may sit in sub-routers)."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    return sorted(methods)


def _http_problem(exc: StarletteHTTPException) -> JSONResponse:
    code = STATUS_CODES.get(exc.status_code)
    if code is None:  # a status this API never answers itself
        response = _problem_json(exc.status_code, "http_error", str(exc.detail))
    else:
        response = Problem(code).response()
    response.headers.update(exc.headers or {})
    return response


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    # Raised inside the insert's transaction (schemas/store/quotas.py), which rolled back.
    @app.exception_handler(QuotaExceeded)
    async def _quota(_: Request, exc: QuotaExceeded) -> JSONResponse:
        return Problem("quota_exceeded", str(exc)).response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _http_problem(exc)
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only; a path
            # served by several routes (GET and POST /v1/payments) allows them all.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        return outage("database_unavailable", exc).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return Problem("internal_error").response()
