"""Every error in the OpenAPI document: problem+json, its stable code, and an example
built from the catalogue (api/problems.py).

Routes name the problems only they can answer (``responses=problems(...)``); the ones
every route of a kind can answer (auth, rate limit, body parsing, timeouts) are added to
each operation from what it declares, so a new route is documented without a line more.
"""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic import Field

from api.problems import CATALOGUE
from api.problems import PROBLEM_JSON

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
        codes.append("too_many_failed_authentications")
    if "AdminKey" in schemes:
        codes += [
            "invalid_admin_key",
            "admin_api_disabled",
            "too_many_failed_admin_authentications",
        ]
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
