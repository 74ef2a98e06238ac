"""Every error in the OpenAPI document: problem+json, its stable code, and an example.

Routes name the problems only they can answer (``responses=problems(...)``); the ones
every route of a kind can answer (auth, rate limit, body parsing, timeouts) are added to
each operation from what it declares, so a new route is documented without a line more.
"""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from api.problems import PROBLEM_JSON

# code: (status, title). The codes are a stable contract: clients branch on them.
CATALOGUE: dict[str, tuple[int, str]] = {
    "malformed_json": (400, "Request body is not valid JSON"),
    "invalid_cursor": (400, "The cursor is not one this API issued"),
    "missing_api_key": (401, "Send a secret key: Authorization: Bearer sk_…"),
    "invalid_api_key": (401, "The API key is unknown, expired or revoked"),
    "invalid_admin_key": (401, "The admin key is missing or wrong"),
    "payment_not_found": (404, "No such payment"),
    "refund_not_found": (404, "No such refund"),
    "connected_account_not_found": (404, "No such connected account"),
    "payout_not_found": (404, "No such payout"),
    "payout_schedule_not_found": (404, "This account has no payout schedule"),
    "invoice_not_found": (404, "No such invoice"),
    "installment_plan_not_found": (404, "No such installment plan"),
    "tenant_not_found": (404, "No such tenant"),
    "api_key_not_found": (404, "No such API key"),
    "admin_api_disabled": (404, "The admin API is off (no PAYSAGA_ADMIN_KEY)"),
    "invalid_state": (409, "Payment is not in a state for this"),
    "idempotency_in_progress": (409, "A request with this Idempotency-Key is in progress"),
    "tenant_exists": (409, "A tenant with this id exists"),
    "api_key_inactive": (409, "Only an active key can be rotated"),
    "invoice_locked": (409, "The invoice cannot change once payment has started"),
    "invoice_expired": (409, "The invoice has expired"),
    "invoice_changed": (409, "The invoice changed while the plan was made"),
    "installment_out_of_order": (409, "Installments are paid in order"),
    "invalid_plan_state": (409, "The installment plan is not in a state for this"),
    "payload_too_large": (413, "Request body is too large"),
    "validation_error": (422, "Request is invalid"),
    "invalid_header": (422, "Request is invalid"),
    "invalid_amount": (422, "Request is invalid"),
    "invalid_currency": (422, "Request is invalid"),
    "invalid_period": (422, "The period is not valid"),
    "invalid_payment_method": (422, "Request is invalid"),
    "invalid_metadata": (422, "Request is invalid"),
    "idempotency_mismatch": (422, "Idempotency-Key reused with a different request"),
    "amount_exceeds_authorized": (422, "Amount too large"),
    "amount_exceeds_refundable": (422, "Refund exceeds what is left to refund"),
    "insufficient_balance": (422, "The merchant balance cannot cover this"),
    "below_minimum": (422, "Less than the minimum payout is available"),
    "invalid_installments": (422, "The installments do not fit the total"),
    "amount_exceeds_outstanding": (422, "Amount exceeds what is outstanding"),
    "rate_limited": (429, "Too many requests"),
    "temporal_unavailable": (503, "Temporal is unreachable"),
    "request_timeout": (503, "The request took too long"),
    "not_ready": (503, "A dependency is not ready"),
    "ledger_unavailable": (503, "The ledger is unavailable"),
    "report_in_progress": (503, "The report is still being built"),
    # Plans and subscriptions (issue 6).
    "plan_not_found": (404, "No such plan"),
    "subscription_not_found": (404, "No such subscription"),
    "invalid_start_at": (422, "start_at is out of range"),
    "invalid_resume_at": (422, "resume_at must be in the future"),
    "plan_unchanged": (422, "The subscription is on this plan already"),
    "plan_change_not_supported": (422, "Plans can change only within a currency and interval"),
    # Providers and webhooks (issue 7).
    "no_eligible_provider": (422, "No configured provider accepts this payment"),
    "provider_not_configured": (404, "This provider is not configured here"),
    "invalid_webhook_signature": (400, "The webhook signature is invalid or stale"),
    # The codec endpoint for the Temporal UI and CLI (issue 8; api/codec.py, not documented
    # in the OpenAPI document: an operators' tool).
    "codec_unauthorized": (401, "The codec token is missing or wrong"),
    "codec_disabled": (404, "The codec endpoint is off"),
    "payload_undecodable": (422, "A payload cannot be decoded"),
    # Risk rules (issue 9).
    "rule_set_not_found": (404, "No such risk rule set version"),
    "rules_version_conflict": (409, "Another rule set was stored at the same time"),
}
IDEMPOTENCY_PROBLEMS = ("idempotency_mismatch", "idempotency_in_progress")
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Every 429 carries it, so it is documented as required.
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


class FieldError(BaseModel):
    field: str = Field(description="Where in the request: `amount`, `metadata.order`, …")
    message: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details; ``code`` is stable, ``title`` and ``detail`` are prose."""

    type: str = Field(examples=["urn:paysaga:problem:payment_not_found"])
    title: str
    status: int
    code: str
    detail: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description="Each invalid field (validation errors only)"
    )
    checks: dict[str, str] | None = Field(default=None, description="Readiness checks only")


def _example(code: str) -> dict[str, Any]:
    status, title = CATALOGUE[code]
    value = {"type": f"urn:paysaga:problem:{code}", "title": title, "status": status}
    return {"summary": code, "value": value | {"code": code}}


def _add(responses: dict, code: str) -> None:
    status = str(CATALOGUE[code][0])
    response = responses.setdefault(status, {"description": HTTPStatus(int(status)).phrase})
    if "content" in response and PROBLEM_JSON not in response["content"]:
        response["content"] = {}  # FastAPI's own 422 (application/json) is not what we send
    media = response.setdefault("content", {}).setdefault(PROBLEM_JSON, {"schema": PROBLEM_REF})
    media.setdefault("examples", {})[code] = _example(code)
    if status == "429":
        response["headers"] = RETRY_AFTER


def problems(*codes: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the problems only it answers."""
    responses: dict = {}
    for code in codes:
        _add(responses, code)
    return responses


def _common_codes(operation: dict) -> list[str]:
    # Unknown query parameters are refused on every operation (api/query_parameters.py).
    codes = ["request_timeout", "validation_error"]
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    if "HTTPBearer" in schemes:
        codes += ["missing_api_key", "invalid_api_key", "rate_limited"]
    if "AdminKey" in schemes:
        codes += ["invalid_admin_key", "admin_api_disabled"]
    if "requestBody" in operation:
        codes += ["malformed_json", "payload_too_large", "validation_error"]
    parameters = operation.get("parameters", [])
    if any(parameter["in"] == "header" for parameter in parameters):
        codes.append("invalid_header")
    return codes


def document_problems(schema: dict) -> dict:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem.pop("$defs", {}))
    components["Problem"] = problem
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for item in schema["paths"].values():
        for operation in item.values():
            responses = operation["responses"]
            for code in _common_codes(operation):
                _add(responses, code)
    return schema


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    description=app.description,
                    routes=app.routes,
                )
            )
        return app.openapi_schema

    app.openapi = openapi
