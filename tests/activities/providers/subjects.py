"""Each adapter as the contract suite (``test_contract.py``) drives it: how to build it on a
base URL, its test payment methods, what its customer does (3-D Secure, PayPal's approval),
how its server says it failed, and what it declares it cannot do.

A provider's facts only: every check is in the suite, the same for all.
"""

import json
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import ClassVar
from typing import Literal

import httpx
import stripe

from activities.providers.base import PaymentProvider
from activities.providers.paypal.adapter import PayPalProvider
from activities.providers.sandbox.adapter import SandboxGateway
from activities.providers.stripe.adapter import StripeProvider
from schemas.provider import ChargeResult
from tests.activities.providers.commands import authorize_command
from tests.support.fake_paypal import FakePayPal
from tests.support.fake_stripe_connect import onboarded_account
from tests.support.localstripe import CARD_CHARGE_DECLINED
from tests.support.localstripe import CARD_OK
from tests.support.localstripe import CARD_THREE_D_SECURE
from tests.support.localstripe import LOCALSTRIPE_API_KEY
from tests.support.localstripe import authenticate
from tests.support.localstripe import card_payment_method

Method = Literal["ok", "declined", "action"]
STALE = timedelta(seconds=301)  # older than every provider's replay window


class Subject:
    """What the suite needs to know of a provider; subclasses say it for each one."""

    name: ClassVar[str]
    key_header: ClassVar[str] = "Idempotency-Key"  # where the idempotency key travels
    # Operations the adapter refuses with InvalidRequest (the provider cannot do them).
    unsupported: ClassVar[frozenset[str]] = frozenset()
    # find_charge / find_refund can find our objects again by our ids.
    searches: ClassVar[bool] = True
    # Every payment waits for the customer (PayPal's approval) before it can be confirmed.
    customer_approves_every_payment: ClassVar[bool] = False
    # A declined charge reads as Declined when it is read again.
    keeps_declines: ClassVar[bool] = True
    # The test server replays a repeated key on charges and refunds (localstripe does not).
    replays_charge_keys: ClassVar[bool] = True
    # A refund without an amount refunds what is left (localstripe refunds all again).
    refunds_the_rest_without_amount: ClassVar[bool] = True
    # Refusals of the real provider the test server does not make (localstripe's gaps).
    server_accepts: ClassVar[frozenset[str]] = frozenset()
    webhooks: ClassVar[bool] = True
    # Path of the requests a fault may hit (not PayPal's token), and POSTs that move no money.
    money_paths: ClassVar[str] = "/v1/"
    unkeyed_paths: ClassVar[tuple[str, ...]] = ()
    prefixes: ClassVar[dict[str, str]]  # of the provider's references
    decline_codes: ClassVar[dict[str, str]]  # "declined" and "action_failed"
    failing_bank_account: ClassVar[str] = ""
    # What the provider's messages say, by case (where the old adapter tests looked).
    says: ClassVar[dict[str, str]] = {}

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url  # the provider's server (not the proxy)

    def upstreams(self) -> list[tuple[str, str]]:
        """Where a proxy in front of the provider sends each path."""
        return [("", self.server_url)]

    def build(self, base_url: str, timeout_seconds: float = 5) -> PaymentProvider:
        raise NotImplementedError

    def error_body(self, status: int) -> dict[str, Any]:
        raise NotImplementedError

    def fee(self, captured: int) -> int:
        """What the provider keeps of a capture."""
        return 0

    async def payment_method(self, method: Method) -> str:
        raise NotImplementedError

    def action_url(self, charge: ChargeResult) -> str:
        raise NotImplementedError

    async def act(self, charge: ChargeResult, *, succeed: bool) -> None:
        """What the customer does where the provider asks: authenticate, approve."""
        raise NotImplementedError

    async def uses_of(self, key: str) -> tuple[int, int] | None:
        """How many times the server applied a request with this key and replayed its
        answer, if it can tell."""
        return None

    async def charges_for(self, payment_id: str) -> int | None:
        """How many charges the server holds for our payment, if it can tell."""
        return None

    async def connected_account(self) -> str:
        return f"acct_{uuid.uuid4().hex[:24]}"

    async def complete_onboarding(self, reference: str) -> None:
        """What the account holder does on the provider's onboarding pages."""
        raise NotImplementedError

    async def fund(self, provider: PaymentProvider, amount: int) -> None:
        """Give the platform balance ``amount`` to transfer (where the server counts it)."""

    def delivery(self, *, stale: bool = False) -> tuple[dict[str, str], bytes]:
        """Headers and body of a webhook delivery signed as the provider signs one."""
        return {"Content-Type": "application/json"}, b'{"id": "evt_1", "type": "charge"}'

    async def _admin(self, method: str, path: str, body: dict | None = None) -> dict:
        """What the customer or the test does at the server itself, not through the adapter."""
        async with httpx.AsyncClient(base_url=self.server_url, timeout=10) as client:
            response = await client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()


class SandboxSubject(Subject):
    name = "sandbox"
    prefixes = {"charge": "ch_", "refund": "rf_", "transfer": "tr_", "payout": "pout_"}
    decline_codes = {"declined": "generic_decline", "action_failed": "authentication_failed"}
    failing_bank_account = "ba_payoutFails"
    webhooks = False
    says = {
        "missing": "resource_missing",
        "over_capture": "amount_too_large",
        "after_void": "(409 charge_state)",
        "refund_after_full": "charge_state",
        "over_refund": "amount_too_large",
        "over_reversal": "amount_too_large",
    }
    _methods = {
        "ok": "tok_visa",
        "declined": "tok_chargeDeclined",
        "action": "tok_threeDSecureRequired",
    }

    def build(self, base_url: str, timeout_seconds: float = 5) -> PaymentProvider:
        return SandboxGateway(base_url, timeout_seconds=timeout_seconds)

    def error_body(self, status: int) -> dict[str, Any]:
        return {"error": {"type": "api_error", "code": f"http_{status}", "message": "failed"}}

    def fee(self, captured: int) -> int:
        return (captured * 29 + 500) // 1000 + 30  # 2.9 % (half up) + 30

    async def payment_method(self, method: Method) -> str:
        return self._methods[method]

    def action_url(self, charge: ChargeResult) -> str:
        return f"{self.server_url}/v1/charges/{charge.reference}/3ds"

    async def act(self, charge: ChargeResult, *, succeed: bool) -> None:
        outcome = {"outcome": "succeed" if succeed else "fail"}
        await self._admin("POST", f"/v1/charges/{charge.reference}/3ds/complete", outcome)

    async def complete_onboarding(self, reference: str) -> None:
        await self._admin("POST", f"/v1/accounts/{reference}/onboarding/complete")

    async def uses_of(self, key: str) -> tuple[int, int] | None:
        stats = await self._admin("GET", "/v1/stats")
        return stats["applied_by_key"].get(key, 0), stats["replays_by_key"].get(key, 0)

    async def charges_for(self, payment_id: str) -> int | None:
        return (await self._admin("GET", "/v1/stats"))["charges_by_reference"].get(payment_id, 0)

    async def fund(self, provider: PaymentProvider, amount: int) -> None:
        await provider.authorize(
            authorize_command(self.name, "tok_visa", capture=True, amount=amount)
        )


class StripeSubject(Subject):
    name = "stripe"
    prefixes = {"charge": "pi_", "refund": "re_", "transfer": "tr_", "payout": "po_"}
    decline_codes = {
        "declined": "card_declined",  # localstripe gives no decline_code
        "action_failed": "payment_intent_authentication_failure",
    }
    failing_bank_account = "ba_failing"
    replays_charge_keys = False
    refunds_the_rest_without_amount = False
    # localstripe captures a canceled PaymentIntent (answering it canceled) and refunds more
    # than was captured; Stripe refuses both.
    server_accepts = frozenset({"capture_after_void", "refund_after_full", "over_refund"})
    says = {"unknown_account": "resource_missing"}
    webhook_secret = "whsec_paysaga_contract"
    _cards = {"ok": CARD_OK, "declined": CARD_CHARGE_DECLINED, "action": CARD_THREE_D_SECURE}

    def __init__(self, server_url: str, connect_url: str) -> None:
        super().__init__(server_url)
        self.connect_url = connect_url

    def upstreams(self) -> list[tuple[str, str]]:
        # Stripe serves Connect from the same base; here the fake Connect serves it.
        connect = (
            "/v1/accounts",
            "/v1/account_links",
            "/v1/transfers",
            "/v1/payouts",
            "/v1/balance_transactions",
        )
        return [(path, self.connect_url) for path in connect] + [("", self.server_url)]

    def build(self, base_url: str, timeout_seconds: float = 5) -> PaymentProvider:
        return StripeProvider(
            LOCALSTRIPE_API_KEY,
            api_base=base_url,
            webhook_secret=self.webhook_secret,
            timeout_seconds=timeout_seconds,
        )

    def error_body(self, status: int) -> dict[str, Any]:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return {"error": {"type": kind, "message": "failed"}}

    async def payment_method(self, method: Method) -> str:
        return await card_payment_method(self.server_url, self._cards[method])

    def action_url(self, charge: ChargeResult) -> str:
        return f"stripe:use_stripe_sdk:{charge.reference}"

    async def act(self, charge: ChargeResult, *, succeed: bool) -> None:
        await authenticate(self.server_url, charge.reference, success=succeed)

    async def charges_for(self, payment_id: str) -> int | None:
        """PaymentIntents made for the payment: every page (localstripe cannot filter)."""
        count, params = 0, {"limit": 100}
        async with httpx.AsyncClient(base_url=self.server_url, timeout=10) as client:
            while True:
                answer = await client.get(
                    "/v1/payment_intents", params=params, auth=(LOCALSTRIPE_API_KEY, "")
                )
                page = answer.raise_for_status().json()
                count += sum(i["metadata"].get("payment_id") == payment_id for i in page["data"])
                if not page.get("has_more") or not page["data"]:
                    return count
                params["starting_after"] = page["data"][-1]["id"]

    async def connected_account(self) -> str:
        return await onboarded_account(self.connect_url, LOCALSTRIPE_API_KEY)

    async def complete_onboarding(self, reference: str) -> None:
        async with httpx.AsyncClient(base_url=self.connect_url, timeout=10) as client:
            answer = await client.post(
                f"/v1/test/accounts/{reference}/complete_onboarding",
                headers={"Authorization": f"Bearer {LOCALSTRIPE_API_KEY}"},
            )
        answer.raise_for_status()

    def delivery(self, *, stale: bool = False) -> tuple[dict[str, str], bytes]:
        intent = {"id": "pi_1", "object": "payment_intent", "amount": 2000, "currency": "usd"}
        body = json.dumps(
            {
                "id": "evt_1",
                "object": "event",
                "type": "payment_intent.succeeded",
                "created": int(time.time()),
                "data": {"object": intent},
            }
        )
        signed_at = int(time.time() - (STALE.total_seconds() if stale else 0))
        header = stripe.WebhookSignature.generate_signature_header(
            body, self.webhook_secret, signed_at
        )
        return {"Stripe-Signature": header, "Content-Type": "application/json"}, body.encode()


class PayPalSubject(Subject):
    name = "paypal"
    key_header = "PayPal-Request-Id"
    unsupported = frozenset(
        {
            "transfer",
            "reverse_transfer",
            "payout",
            "find_transfer",
            "find_payout",
            "list_transactions",
            "create_account",
            "retrieve_account",
            "onboarding_link",
        }
    )
    # Orders and refunds cannot be searched by our ids (only Transaction Search can, hours late).
    searches = False
    customer_approves_every_payment = True
    # The order stays open after a refused funding source: the buyer may choose another.
    keeps_declines = False
    money_paths = "/v2/"
    unkeyed_paths = ("/v1/oauth2/token", "/v1/notifications/verify-webhook-signature")
    prefixes = {"charge": "", "refund": "", "transfer": "", "payout": ""}
    decline_codes = {"declined": "INSTRUMENT_DECLINED", "action_failed": "INSTRUMENT_DECLINED"}
    says = {
        "missing": "404",
        "over_capture": "MAX_CAPTURE_AMOUNT_EXCEEDED",
        "after_void": "AUTHORIZATION_VOIDED",
        "refund_after_full": "CAPTURE_FULLY_REFUNDED",
        "over_refund": "REFUND_AMOUNT_EXCEEDED",
        "unsupported": "not supported by the PayPal adapter",
        "stale": "window",
    }
    webhook_id = "WH-CONTRACT"

    def __init__(self, fake: FakePayPal) -> None:
        super().__init__(fake.url)
        self.fake = fake

    def build(self, base_url: str, timeout_seconds: float = 5) -> PaymentProvider:
        return PayPalProvider(
            base_url,
            self.fake.client_id,
            self.fake.client_secret,
            webhook_id=self.webhook_id,
            return_url="https://shop.example/paypal/return",
            cancel_url="https://shop.example/paypal/cancel",
            timeout_seconds=timeout_seconds,
        )

    def error_body(self, status: int) -> dict[str, Any]:
        name = "INTERNAL_SERVER_ERROR" if status >= 500 else "RATE_LIMIT_REACHED"
        return {"name": name, "message": "failed", "debug_id": uuid.uuid4().hex[:13]}

    def fee(self, captured: int) -> int:
        return (captured * 349 + 5000) // 10000 + 49  # 3.49 % (half up) + 0.49

    async def payment_method(self, method: Method) -> str:
        return "paypal"  # the buyer picks the funding at PayPal (``act``)

    def action_url(self, charge: ChargeResult) -> str:
        return f"{self.server_url}/checkoutnow?token={charge.reference}"

    async def act(self, charge: ChargeResult, *, succeed: bool) -> None:
        funding = {"funding": "ok" if succeed else "declined"}
        await self._admin("POST", f"/_fake/orders/{charge.reference}/approve", funding)

    async def uses_of(self, key: str) -> tuple[int, int] | None:
        stats = await self._admin("GET", "/_fake/stats")
        applied, replayed = stats["applied_by_request_id"], stats["replays_by_request_id"]
        return applied.get(key, 0), replayed.get(key, 0)

    async def charges_for(self, payment_id: str) -> int | None:
        stats = await self._admin("GET", "/_fake/stats")
        return stats["orders_by_reference_id"].get(payment_id, 0)

    def delivery(self, *, stale: bool = False) -> tuple[dict[str, str], bytes]:
        event = {
            "id": "WH-EVENT-1",
            "event_version": "1.0",
            "create_time": "2025-03-01T10:00:00.000Z",
            "resource_type": "capture",
            "event_type": "PAYMENT.CAPTURE.COMPLETED",
            "resource": {"id": "CAPTURE1", "amount": {"currency_code": "USD", "value": "2000.00"}},
        }
        sent = datetime.now(UTC) - (STALE if stale else timedelta(0))
        return self.fake.signed_webhook(event, self.webhook_id, transmission_time=sent)
