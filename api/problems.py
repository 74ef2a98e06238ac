"""RFC 9457 problem+json for every error the API returns; no input is ever echoed back."""

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"

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
SAFE_KEY = re.compile(r"^[A-Za-z_][A-Za-z_\-]{0,39}$")


class Problem(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        **extra,
    ):
        super().__init__(detail or title)
        self.status, self.code, self.title, self.detail, self.extra = (
            status,
            code,
            title,
            detail,
            extra,
        )
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        response = problem_response(self.status, self.code, self.title, self.detail, **self.extra)
        response.headers.update(self.headers)
        return response


def problem_response(
    status: int, code: str, title: str, detail: str | None = None, **extra: Any
) -> JSONResponse:
    body = {"type": f"urn:paysaga:problem:{code}", "title": title, "status": status, "code": code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _validation_problem(exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(error["type"] == "json_invalid" for error in errors):
        return problem_response(400, "malformed_json", "Request body is not valid JSON")
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
    return problem_response(
        422,
        code,
        "Request is invalid",
        f"{fields[0]['field']}: {fields[0]['message']}",
        errors=fields,
    )


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


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, exc: Problem) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_problem(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = STATUS_CODES.get(exc.status_code, "http_error")
        response = problem_response(exc.status_code, code, str(exc.detail))
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # Starlette names the methods of the first route on the path only; a path
            # served by several routes (GET and POST /v1/payments) allows them all.
            response.headers["Allow"] = ", ".join(_allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return problem_response(500, "internal_error", "Internal error")
