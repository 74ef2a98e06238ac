"""A fake PayPal REST API for tests, served over real HTTP by uvicorn in a thread.

    with serve_fake_paypal() as paypal:
        provider = PayPalProvider(paypal.url, paypal.client_id, paypal.client_secret, ...)
        headers, body = paypal.signed_webhook(event, "WH-1")

It follows PayPal's documented shapes: OAuth2 client credentials, Orders v2 (CREATED /
PAYER_ACTION_REQUIRED → APPROVED → COMPLETED, ``payer-action`` links, purchase unit payments),
Payments v2 (authorization capture/void, capture refund), ``PayPal-Request-Id`` replays and
``verify-webhook-signature``. What a merchant cannot do goes through ``/_fake/...``: the buyer's
approval, fault injection, token expiry, stats (what was applied per request id).

Webhook verification is real: the fake holds an RSA key and a self-signed certificate served
at ``cert_url``, and checks ``base64(RSA-SHA256("<transmission id>|<transmission time>|<webhook
id>|<crc32 of the body>"))``. PayPal computes that CRC32 over the event exactly as it was sent
(a re-serialised event fails: PayPal-PHP-SDK #807), so the fake takes the CRC32 of the raw
text of the ``webhook_event`` member of its request, never of a re-serialisation of it. An
adapter that parsed and dumped the event again would fail here as it would against PayPal.
"""

import asyncio
import base64
import binascii
import json
import re
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from decimal import Decimal
from decimal import InvalidOperation
from typing import Any
from urllib.parse import urlencode

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi import Request
from fastapi.responses import JSONResponse
from fastapi.responses import Response

from activities.providers.paypal.currencies import PAYPAL_CURRENCIES
from tests.support.served import serve_app

CERT_PATH = "/v1/notifications/certs/CERT-fake-paypal"
_WHITESPACE = re.compile(r"[ \t\n\r]*")


class PayPalError(Exception):
    def __init__(self, status: int, name: str, issue: str = "", description: str = "") -> None:
        super().__init__(f"{status} {name} {issue}")
        self.status, self.name, self.issue, self.description = status, name, issue, description

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"name": self.name, "message": self.description or self.name}
        body["debug_id"] = uuid.uuid4().hex[:13]
        if self.issue:
            body["details"] = [{"issue": self.issue, "description": self.description}]
        return JSONResponse(body, status_code=self.status)


def _unprocessable(issue: str, description: str) -> PayPalError:
    return PayPalError(422, "UNPROCESSABLE_ENTITY", issue, description)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id() -> str:
    return uuid.uuid4().hex[:17].upper()


def _minor(amount: dict[str, Any]) -> int:
    try:
        currency = amount["currency_code"]
        # PayPal's own decimals (HUF, TWD: none), which the amount is stored in.
        exponent = PAYPAL_CURRENCIES.api_exponent(currency)
        value = Decimal(str(amount["value"])).scaleb(exponent)
    except (KeyError, TypeError, ValueError, InvalidOperation) as e:
        raise PayPalError(400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", str(e)) from e
    if currency not in (PAYPAL_CURRENCIES.supported or ()):
        raise _unprocessable("CURRENCY_NOT_SUPPORTED", "Currency code is not currently supported.")
    if value != value.to_integral_value() or value <= 0:
        raise PayPalError(400, "INVALID_REQUEST", "DECIMAL_PRECISION", "bad amount value")
    return int(value)


def _amount(minor: int, currency: str) -> dict[str, str]:
    exponent = PAYPAL_CURRENCIES.api_exponent(currency)
    return {"currency_code": currency, "value": f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"}


def json_members(text: str) -> dict[str, tuple[Any, str]]:
    """Each member of a JSON object with its parsed value and its exact source text."""
    decoder = json.JSONDecoder()
    members: dict[str, tuple[Any, str]] = {}
    i = _WHITESPACE.match(text, 0).end()
    if text[i : i + 1] != "{":
        raise ValueError("not an object")
    i = _WHITESPACE.match(text, i + 1).end()
    if text[i : i + 1] == "}":
        return members
    while True:
        key, i = decoder.raw_decode(text, i)
        i = _WHITESPACE.match(text, i).end()
        if not isinstance(key, str) or text[i : i + 1] != ":":
            raise ValueError("bad member")
        start = _WHITESPACE.match(text, i + 1).end()
        value, i = decoder.raw_decode(text, start)
        members[key] = (value, text[start:i])
        i = _WHITESPACE.match(text, i).end()
        if text[i : i + 1] == "}":
            return members
        if text[i : i + 1] != ",":
            raise ValueError("bad separator")
        i = _WHITESPACE.match(text, i + 1).end()


class FakePayPal:
    """State and ASGI app of one fake PayPal."""

    # A made-up test credential the fake itself issues, not a secret.
    def __init__(
        self,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-secret",  # noqa: S107
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.url = ""  # set once served
        self.token_ttl_seconds = 3600.0
        self.refund_status = "COMPLETED"
        self._tokens: dict[str, float] = {}  # token → monotonic expiry
        self._orders: dict[str, dict[str, Any]] = {}
        self._funding: dict[str, str] = {}  # order id → "ok" / "declined"
        self._owner: dict[str, str] = {}  # authorization / capture id → order id
        self._replies: dict[str, tuple[int, Any]] = {}  # PayPal-Request-Id → first answer
        self._faults: list[dict[str, Any]] = []
        self._disputes: dict[str, dict[str, Any]] = {}
        self.stats: dict[str, Counter] = {
            "applied_by_request_id": Counter(),
            "replays_by_request_id": Counter(),
            "orders_by_reference_id": Counter(),
            "tokens": Counter(),
        }
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._cert = _self_signed(self._key)
        self.app = self._build_app()

    @property
    def cert_url(self) -> str:
        return self.url + CERT_PATH

    def signed_webhook(
        self,
        event: dict[str, Any],
        webhook_id: str,
        *,
        transmission_time: datetime | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """Headers and body of a delivery signed with this fake's key, as PayPal signs."""
        body = json.dumps(event).encode()
        transmission_id = str(uuid.uuid4())
        sent = (transmission_time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        message = f"{transmission_id}|{sent}|{webhook_id}|{zlib.crc32(body)}".encode()
        signature = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        headers = {
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-CERT-URL": self.cert_url,
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-TRANSMISSION-TIME": sent,
            "Content-Type": "application/json",
        }
        return headers, body

    # HTTP.

    def _build_app(self) -> FastAPI:
        app = FastAPI()
        app.add_api_route("/v1/oauth2/token", self._token, methods=["POST"])
        app.add_api_route(CERT_PATH, self._certificate, methods=["GET"])
        app.add_api_route("/v2/checkout/orders", self._create_order, methods=["POST"])
        app.add_api_route("/v2/checkout/orders/{order_id}", self._get_order, methods=["GET"])
        app.add_api_route(
            "/v2/checkout/orders/{order_id}/{action}", self._order_action, methods=["POST"]
        )
        app.add_api_route(
            "/v2/payments/authorizations/{auth_id}/{action}",
            self._authorization_action,
            methods=["POST"],
        )
        app.add_api_route(
            "/v2/payments/captures/{capture_id}/refund", self._refund, methods=["POST"]
        )
        app.add_api_route(
            "/v1/notifications/verify-webhook-signature", self._verify, methods=["POST"]
        )
        app.add_api_route("/_fake/orders/{order_id}/approve", self._approve, methods=["POST"])
        app.add_api_route("/v1/customer/disputes/{dispute_id}", self._get_dispute, methods=["GET"])
        app.add_api_route(
            "/v1/customer/disputes/{dispute_id}/accept-claim",
            self._accept_claim,
            methods=["POST"],
        )
        app.add_api_route(
            "/_fake/captures/{capture_id}/dispute", self._open_dispute, methods=["POST"]
        )
        app.add_api_route(
            "/_fake/disputes/{dispute_id}/resolve", self._resolve_dispute, methods=["POST"]
        )
        app.add_api_route("/_fake/orders/{order_id}/cancel", self._buyer_cancels, methods=["POST"])
        app.add_api_route("/_fake/faults", self._set_fault, methods=["POST"])
        app.add_api_route("/_fake/faults", self._clear_faults, methods=["DELETE"])
        app.add_api_route("/_fake/config", self._configure, methods=["POST"])
        app.add_api_route("/_fake/tokens/expire", self._expire_tokens, methods=["POST"])
        app.add_api_route("/_fake/stats", self._stats, methods=["GET"])
        return app

    async def _serve(
        self, request: Request, apply: Callable[[], Awaitable[tuple[int, Any]]]
    ) -> Response:
        """Auth, faults, PayPal-Request-Id replay, then ``apply`` (each route's own work)."""
        if not self._authorized(request):
            return JSONResponse(
                {"error": "invalid_token", "error_description": "Token signature verification"},
                status_code=401,
            )
        fault = self._take_fault(request.url.path)
        if fault is not None and fault["mode"] == "unavailable":
            error = PayPalError(503, "SERVICE_UNAVAILABLE", "", "try again later")
            response = error.response()
            response.headers["Retry-After"] = "1"
            return response
        request_id = request.headers.get("paypal-request-id")
        if request.method == "POST" and request_id in self._replies:
            self.stats["replays_by_request_id"][request_id] += 1
            status, body = self._replies[request_id]
        else:
            try:
                status, body = await apply()
            except PayPalError as error:
                return error.response()
            if request.method == "POST" and request_id and 200 <= status < 300:
                self._replies[request_id] = (status, body)
                self.stats["applied_by_request_id"][request_id] += 1
        if fault is not None and fault["mode"] == "timeout_after_apply":
            await asyncio.sleep(fault["stall_seconds"])
        if fault is not None and fault["mode"] == "error_after_apply":
            return PayPalError(500, "INTERNAL_SERVER_ERROR", "", "after apply").response()
        if status == 204:
            return Response(status_code=204)
        return JSONResponse(body, status_code=status)

    def _authorized(self, request: Request) -> bool:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expires = self._tokens.get(token)
        return scheme.lower() == "bearer" and expires is not None and time.monotonic() < expires

    def _take_fault(self, url_path: str) -> dict[str, Any] | None:
        for fault in self._faults:
            if fault["remaining"] > 0 and url_path.startswith(fault["path_prefix"]):
                fault["remaining"] -= 1
                return fault
        return None

    async def _token(self, request: Request) -> Response:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id = secret = ""
        form = dict(
            pair.split("=", 1) for pair in (await request.body()).decode().split("&") if "=" in pair
        )
        valid = (client_id, secret) == (self.client_id, self.client_secret)
        if scheme.lower() != "basic" or not valid:
            self.stats["tokens"]["refused"] += 1
            body = {"error": "invalid_client", "error_description": "Client Authentication failed"}
            return JSONResponse(body, status_code=401)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        token = "A21AA" + uuid.uuid4().hex
        self._tokens[token] = time.monotonic() + self.token_ttl_seconds
        self.stats["tokens"]["issued"] += 1
        return JSONResponse(
            {
                "scope": "https://uri.paypal.com/services/payments/payment",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-FAKE",
                "expires_in": self.token_ttl_seconds,
                "nonce": uuid.uuid4().hex,
            }
        )

    async def _certificate(self) -> Response:
        pem = self._cert.public_bytes(serialization.Encoding.PEM)
        return Response(pem, media_type="application/x-pem-file")

    # Orders v2.

    async def _create_order(self, request: Request) -> Response:
        async def apply() -> tuple[int, Any]:
            body = await _json(request)
            intent = body.get("intent")
            units = body.get("purchase_units") or []
            if intent not in ("CAPTURE", "AUTHORIZE") or len(units) != 1:
                raise PayPalError(400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "intent/units")
            unit = units[0]
            amount = _amount(_minor(unit.get("amount") or {}), unit["amount"]["currency_code"])
            order_id = _new_id()
            paypal = (body.get("payment_source") or {}).get("paypal")
            context = (paypal or {}).get("experience_context") or {}
            approve_rel = "payer-action" if paypal is not None else "approve"
            order = {
                "id": order_id,
                "intent": intent,
                "status": "PAYER_ACTION_REQUIRED" if paypal is not None else "CREATED",
                "purchase_units": [
                    {k: unit[k] for k in ("reference_id", "custom_id", "invoice_id") if k in unit}
                    | {"amount": amount, "payments": {}}
                ],
                "payment_source": {"paypal": {}},
                "create_time": _now(),
                "links": [
                    {"href": f"{self.url}/v2/checkout/orders/{order_id}", "rel": "self"},
                    {
                        "href": f"{self.url}/checkoutnow?token={order_id}",
                        "rel": approve_rel,
                        "method": "GET",
                    },
                ],
                # Where the buyer's browser goes back to, as PayPal keeps them per order.
                "_return_url": context.get("return_url"),
                "_cancel_url": context.get("cancel_url"),
            }
            self._orders[order_id] = order
            self.stats["orders_by_reference_id"][unit.get("reference_id", "default")] += 1
            return 201, _public(order)

        return await self._serve(request, apply)

    async def _get_order(self, request: Request, order_id: str) -> Response:
        async def apply() -> tuple[int, Any]:
            return 200, _public(self._order(order_id))

        return await self._serve(request, apply)

    async def _order_action(self, request: Request, order_id: str, action: str) -> Response:
        async def apply() -> tuple[int, Any]:
            order = self._order(order_id)
            if action not in ("authorize", "capture"):
                raise PayPalError(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", action)
            if order["intent"] != action.upper():
                raise _unprocessable("ACTION_DOES_NOT_MATCH_INTENT", f"intent {order['intent']}")
            if order["status"] == "COMPLETED":
                issue = (
                    "ORDER_ALREADY_AUTHORIZED"
                    if action == "authorize"
                    else "ORDER_ALREADY_CAPTURED"
                )
                raise _unprocessable(issue, "the order is completed")
            if order["status"] != "APPROVED":
                raise _unprocessable("ORDER_NOT_APPROVED", "the payer has not approved the order")
            if self._funding.get(order_id) == "declined":
                raise _unprocessable(
                    "INSTRUMENT_DECLINED", "The instrument presented was declined."
                )
            unit = order["purchase_units"][0]
            payment = self._payment(order, unit["amount"])
            if action == "authorize":
                payment |= {"status": "CREATED", "expiration_time": _later(days=29)}
                unit["payments"].setdefault("authorizations", []).append(payment)
            else:
                payment |= _capture_fields(unit["amount"], final=True)
                unit["payments"].setdefault("captures", []).append(payment)
            self._owner[payment["id"]] = order_id
            order["status"] = "COMPLETED"
            return 201, _public(order)

        return await self._serve(request, apply)

    # Payments v2.

    async def _authorization_action(self, request: Request, auth_id: str, action: str) -> Response:
        async def apply() -> tuple[int, Any]:
            order, authorization = self._find(auth_id, "authorizations")
            status = authorization["status"]
            if action == "void":
                if status == "VOIDED":
                    raise _unprocessable("AUTHORIZATION_ALREADY_VOIDED", "already voided")
                if status != "CREATED":
                    raise _unprocessable("PREVIOUSLY_CAPTURED", "a capture was made")
                authorization["status"] = "VOIDED"
                return 200, authorization
            if action != "capture":
                raise PayPalError(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", action)
            if status == "VOIDED":
                raise _unprocessable("AUTHORIZATION_VOIDED", "the authorization is voided")
            if status not in ("CREATED", "PARTIALLY_CAPTURED"):
                raise _unprocessable("AUTHORIZATION_ALREADY_CAPTURED", "already captured")
            body = await _json(request)
            unit = order["purchase_units"][0]
            currency = authorization["amount"]["currency_code"]
            captures = unit["payments"].setdefault("captures", [])
            done = sum(_minor(c["amount"]) for c in captures if c["status"] != "DECLINED")
            left = _minor(authorization["amount"]) - done
            wanted = _minor(body["amount"]) if body.get("amount") else left
            if wanted > left:
                raise _unprocessable("MAX_CAPTURE_AMOUNT_EXCEEDED", "more than authorized")
            final = bool(body.get("final_capture", False)) or wanted == left
            capture = self._payment(order, _amount(wanted, currency))
            capture |= _capture_fields(capture["amount"], final=final)
            captures.append(capture)
            self._owner[capture["id"]] = order["id"]
            authorization["status"] = "CAPTURED" if final else "PARTIALLY_CAPTURED"
            return 201, capture

        return await self._serve(request, apply)

    async def _refund(self, request: Request, capture_id: str) -> Response:
        async def apply() -> tuple[int, Any]:
            order, capture = self._find(capture_id, "captures")
            if capture["status"] not in ("COMPLETED", "PARTIALLY_REFUNDED"):
                raise _unprocessable("CAPTURE_FULLY_REFUNDED", f"capture is {capture['status']}")
            body = await _json(request)
            unit = order["purchase_units"][0]
            refunds = unit["payments"].setdefault("refunds", [])
            mine = [r for r in refunds if r["_capture"] == capture_id and r["status"] != "FAILED"]
            left = _minor(capture["amount"]) - sum(_minor(r["amount"]) for r in mine)
            wanted = _minor(body["amount"]) if body.get("amount") else left
            if wanted > left:
                raise _unprocessable("REFUND_AMOUNT_EXCEEDED", "more than captured")
            refund = {
                "id": _new_id(),
                "status": self.refund_status,
                "amount": _amount(wanted, capture["amount"]["currency_code"]),
                "create_time": _now(),
                "links": [{"href": f"{self.url}/v2/payments/captures/{capture_id}", "rel": "up"}],
                "_capture": capture_id,
            } | {k: body[k] for k in ("custom_id", "invoice_id") if k in body}
            refunds.append(refund)
            if refund["status"] != "FAILED":
                capture["status"] = "REFUNDED" if wanted == left else "PARTIALLY_REFUNDED"
            return 201, _public(refund)

        return await self._serve(request, apply)

    # Webhooks.

    async def _verify(self, request: Request) -> Response:
        async def apply() -> tuple[int, Any]:
            try:
                members = json_members((await request.body()).decode())
                event_text = members["webhook_event"][1]
                field = {name: str(members[name][0]) for name in _VERIFY_FIELDS}
            except (ValueError, KeyError, UnicodeDecodeError) as e:
                raise PayPalError(400, "VALIDATION_ERROR", "MISSING_REQUIRED_FIELD", str(e)) from e
            return 200, {"verification_status": self._check(field, event_text.encode())}

        return await self._serve(request, apply)

    def _check(self, field: dict[str, str], event: bytes) -> str:
        if field["auth_algo"] != "SHA256withRSA" or field["cert_url"] != self.cert_url:
            return "FAILURE"
        message = "|".join(
            [
                field["transmission_id"],
                field["transmission_time"],
                field["webhook_id"],
                str(zlib.crc32(event)),
            ]
        )
        try:
            signature = base64.b64decode(field["transmission_sig"], validate=True)
            self._cert.public_key().verify(
                signature, message.encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except (InvalidSignature, binascii.Error, ValueError):
            return "FAILURE"
        return "SUCCESS"

    # Fake-only controls.

    async def _open_dispute(self, capture_id: str, request: Request) -> Response:
        """The buyer files a case against a capture: the dispute as the Disputes API shows it
        (``GET /v1/customer/disputes/{id}``) and as ``CUSTOMER.DISPUTE.*`` events carry it.
        ``disputed_transactions`` names the capture (``seller_transaction_id``) and echoes
        the purchase unit's ``invoice_id`` and ``custom_id``, never the order id."""
        try:
            order, capture = self._find(capture_id, "captures")
        except PayPalError as error:
            return error.response()
        reason = (await _json(request)).get("reason", "MERCHANDISE_OR_SERVICE_NOT_RECEIVED")
        unit = order["purchase_units"][0]
        dispute_id = f"PP-D-{_new_id()}"
        transaction = {
            "seller_transaction_id": capture_id,
            "create_time": capture.get("create_time", _now()),
            "transaction_status": "COMPLETED",
            "gross_amount": capture["amount"],
            "invoice_number": unit.get("invoice_id"),
            "custom": unit.get("custom_id"),
        }
        dispute = {
            "dispute_id": dispute_id,
            "create_time": _now(),
            "update_time": _now(),
            "disputed_transactions": [{k: v for k, v in transaction.items() if v is not None}],
            "reason": reason,
            "status": "OPEN",
            "dispute_amount": capture["amount"],
            "dispute_life_cycle_stage": "INQUIRY",
            "dispute_channel": "INTERNAL",
            "seller_response_due_date": (datetime.now(UTC) + timedelta(days=10)).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "links": [
                {
                    "href": f"{self.url}/v1/customer/disputes/{dispute_id}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }
        self._disputes[dispute_id] = dispute
        return JSONResponse(dispute, status_code=201)

    async def _get_dispute(self, request: Request, dispute_id: str) -> Response:
        async def apply() -> tuple[int, Any]:
            dispute = self._disputes.get(dispute_id)
            if dispute is None:
                raise PayPalError(
                    404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "no such dispute"
                )
            return 200, dispute

        return await self._serve(request, apply)

    async def _accept_claim(self, request: Request, dispute_id: str) -> Response:
        """The merchant accepts liability: the case closes in the buyer's favour. A resolved
        case can no longer be accepted (422, PayPal's error shape)."""

        async def apply() -> tuple[int, Any]:
            dispute = self._open_case(dispute_id)
            self._close_case(dispute, "RESOLVED_BUYER_FAVOUR")
            return 200, {"links": dispute["links"]}

        return await self._serve(request, apply)

    async def _resolve_dispute(self, dispute_id: str, request: Request) -> Response:
        """PayPal decides the case (``outcome``: ``RESOLVED_SELLER_FAVOUR`` or
        ``RESOLVED_BUYER_FAVOUR``)."""
        outcome = (await _json(request)).get("outcome", "RESOLVED_SELLER_FAVOUR")
        try:
            dispute = self._open_case(dispute_id)
        except PayPalError as error:
            return error.response()
        self._close_case(dispute, outcome)
        return JSONResponse(dispute)

    def _open_case(self, dispute_id: str) -> dict[str, Any]:
        dispute = self._disputes.get(dispute_id)
        if dispute is None:
            raise PayPalError(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "no such dispute")
        if dispute["status"] == "RESOLVED":
            raise PayPalError(
                422, "UNPROCESSABLE_ENTITY", "DISPUTE_RESOLVED", "the dispute is resolved"
            )
        return dispute

    @staticmethod
    def _close_case(dispute: dict[str, Any], outcome: str) -> None:
        dispute["status"] = "RESOLVED"
        dispute["dispute_outcome"] = {"outcome_code": outcome}
        dispute["update_time"] = _now()

    async def _approve(self, order_id: str, request: Request) -> Response:
        try:
            order = self._order(order_id)
        except PayPalError as error:
            return error.response()
        funding = (await _json(request)).get("funding", "ok")
        if order["status"] not in ("CREATED", "PAYER_ACTION_REQUIRED"):
            return JSONResponse({"error": f"order is {order['status']}"}, status_code=409)
        order["status"] = "APPROVED"
        order["payer"] = {"payer_id": "FAKEPAYER", "email_address": "buyer@example.com"}
        self._funding[order_id] = funding
        return JSONResponse(
            {
                "status": "APPROVED",
                "return_url": _redirect(
                    order["_return_url"], token=order_id, PayerID=order["payer"]["payer_id"]
                ),
            }
        )

    async def _buyer_cancels(self, order_id: str) -> Response:
        """The buyer clicks "cancel and return": like PayPal, the order stays un-approved and
        the browser is sent to the order's cancel_url with ``?token=<order id>``."""
        try:
            order = self._order(order_id)
        except PayPalError as error:
            return error.response()
        return JSONResponse(
            {
                "status": order["status"],
                "cancel_url": _redirect(order["_cancel_url"], token=order_id),
            }
        )

    async def _set_fault(self, request: Request) -> Response:
        """``{"mode": "unavailable" | "timeout_after_apply" | "error_after_apply", "count": N,
        "path_prefix": "/v2/", "stall_seconds": 2}``."""
        body = await _json(request)
        self._faults.append(
            {
                "mode": body["mode"],
                "remaining": int(body.get("count", 1)),
                "path_prefix": body.get("path_prefix", "/v2/"),
                "stall_seconds": float(body.get("stall_seconds", 2.0)),
            }
        )
        return JSONResponse({"faults": len(self._faults)})

    async def _clear_faults(self) -> Response:
        self._faults.clear()
        return Response(status_code=204)

    async def _configure(self, request: Request) -> Response:
        body = await _json(request)
        self.token_ttl_seconds = float(body.get("token_ttl_seconds", self.token_ttl_seconds))
        self.refund_status = str(body.get("refund_status", self.refund_status))
        return JSONResponse({"token_ttl_seconds": self.token_ttl_seconds})

    async def _expire_tokens(self) -> Response:
        """Every token PayPal issued stops working now (a revocation or an early expiry)."""
        self._tokens.clear()
        return Response(status_code=204)

    async def _stats(self) -> Response:
        return JSONResponse({name: dict(counter) for name, counter in self.stats.items()})

    # State.

    def _order(self, order_id: str) -> dict[str, Any]:
        if order_id not in self._orders:
            raise PayPalError(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", "no such order")
        return self._orders[order_id]

    def _find(self, payment_id: str, kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
        order_id = self._owner.get(payment_id)
        order = self._orders.get(order_id or "")
        found = (order and order["purchase_units"][0]["payments"].get(kind)) or []
        for payment in found:
            if payment["id"] == payment_id:
                return order, payment
        raise PayPalError(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"no such {kind}")

    def _payment(self, order: dict[str, Any], amount: dict[str, str]) -> dict[str, Any]:
        """The fields authorizations and captures share (``custom_id`` echoes the unit's)."""
        unit = order["purchase_units"][0]
        return {
            "id": _new_id(),
            "amount": amount,
            "create_time": _now(),
            "supplementary_data": {"related_ids": {"order_id": order["id"]}},
        } | {k: unit[k] for k in ("custom_id", "invoice_id") if k in unit}


_VERIFY_FIELDS = (
    "auth_algo",
    "cert_url",
    "transmission_id",
    "transmission_sig",
    "transmission_time",
    "webhook_id",
)


def _capture_fields(amount: dict[str, str], *, final: bool) -> dict[str, Any]:
    """A completed capture with PayPal's fee: 3.49% (half up) + 0.49."""
    currency, gross = amount["currency_code"], _minor(amount)
    fee = (gross * 349 + 5000) // 10000 + 49
    return {
        "status": "COMPLETED",
        "final_capture": final,
        "seller_receivable_breakdown": {
            "gross_amount": amount,
            "paypal_fee": _amount(fee, currency),
            "net_amount": _amount(gross - fee, currency),
        },
    }


def _later(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(value: Any) -> Any:
    """Without the fake's own bookkeeping (keys starting with ``_``)."""
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else {}
    except ValueError as e:
        raise PayPalError(400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON", str(e)) from e
    if not isinstance(body, dict):
        raise PayPalError(400, "INVALID_REQUEST", "MALFORMED_REQUEST_JSON", "not an object")
    return body


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.fake")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


@contextmanager
def serve_fake_paypal(**kwargs: Any) -> Iterator[FakePayPal]:
    """A ``FakePayPal`` served over HTTP for the block (``.url`` set)."""
    fake = FakePayPal(**kwargs)
    with serve_app(fake.app, "fake PayPal") as url:
        fake.url = url
        yield fake


def _redirect(url: str | None, **query: str) -> str | None:
    """``url`` with PayPal's query parameters appended (None when the order has no such url)."""
    if url is None:
        return None
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
