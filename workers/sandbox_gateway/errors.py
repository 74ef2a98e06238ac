"""Errors the gateway answers with: ``{"error": {"type", "code", "message", ...}}``."""

from typing import Any


class GatewayError(Exception):
    """An answer that is not a charge. Raised inside an operation, it rolls the operation back
    (nothing applied, nothing stored under the idempotency key)."""

    def __init__(self, status: int, type_: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message, **extra}}


def invalid_request(code: str, message: str, status: int = 400) -> GatewayError:
    return GatewayError(status, "invalid_request_error", code, message)


def charge_state(charge_id: str, status: str, action: str) -> GatewayError:
    return invalid_request(
        "charge_state", f"charge {charge_id} is {status}; it cannot be {action}", status=409
    )


def resource_missing(charge_id: str) -> GatewayError:
    return invalid_request("resource_missing", f"no such charge: {charge_id}", status=404)


UNAVAILABLE = GatewayError(
    503, "api_error", "unavailable", "the gateway is temporarily unavailable"
)
