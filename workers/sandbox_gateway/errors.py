"""Errors the gateway answers with: ``{"error": {"type", "code", "message", ...}}``."""

from typing import Any


class GatewayError(Exception):
    """An error answer. Raised inside an operation, it rolls the operation back (nothing
    applied, nothing stored under the idempotency key)."""

    def __init__(self, status: int, type_: str, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "code": code, "message": message, **extra}}


class CardRefused(GatewayError):
    """402 with a card's refusal (``tokens.Decline.error``), nothing applied."""

    def __init__(self, body: dict[str, Any]) -> None:
        Exception.__init__(self, body["error"]["message"])
        self.status, self.body = 402, body


def invalid_request(code: str, message: str, status: int = 400) -> GatewayError:
    return GatewayError(status, "invalid_request_error", code, message)


def charge_state(charge_id: str, status: str, action: str) -> GatewayError:
    return object_state("charge", charge_id, status, action)


def object_state(kind: str, object_id: str, status: str, action: str) -> GatewayError:
    """409 ``{kind}_state``: the object exists but its state does not allow ``action``."""
    return invalid_request(
        f"{kind}_state", f"{kind} {object_id} is {status}; it cannot be {action}", status=409
    )


def resource_missing(object_id: str, kind: str = "charge") -> GatewayError:
    return invalid_request("resource_missing", f"no such {kind}: {object_id}", status=404)


def balance_insufficient(message: str) -> GatewayError:
    """402: the balance a transfer or payout would draw on holds too little."""
    return GatewayError(402, "invalid_request_error", "balance_insufficient", message)


UNAVAILABLE = GatewayError(
    503, "api_error", "unavailable", "the gateway is temporarily unavailable"
)
