"""Client of the sandbox gateway (workers/sandbox_gateway): ``PaymentProvider`` over HTTP.

Every money-moving POST carries the command's ``idempotency_key`` as ``Idempotency-Key`` and
our own id as ``reference`` (payment, refund or payout id), so a retry after
``OutcomeUnknown`` never applies twice and ``find_*`` can find the gateway's object again when
an answer was lost. How answers map to the error taxonomy is in ``http``; why no webhook
is ever genuine is in ``events``.
"""

import logging
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import get_args

from activities.providers.base import ClosedOnExit
from activities.providers.base import describe
from activities.providers.base import redirect_action
from activities.providers.base import saved_card
from activities.providers.base import url_path
from activities.providers.errors import declined
from activities.providers.errors import timezone_aware
from activities.providers.sandbox.events import verified_event
from activities.providers.sandbox.http import GatewayHttp
from schemas.customers import AttachMethodCommand
from schemas.customers import ProviderCard
from schemas.customers import SaveCustomerCommand
from schemas.provider import AccountCommand
from schemas.provider import AuthorizeCommand
from schemas.provider import ChargeCommand
from schemas.provider import ChargeResult
from schemas.provider import CustomerAction
from schemas.provider import OnboardingLink
from schemas.provider import OnboardingLinkCommand
from schemas.provider import PayoutCommand
from schemas.provider import PayoutResult
from schemas.provider import ProviderAccount
from schemas.provider import ProviderTransaction
from schemas.provider import RefundCommand
from schemas.provider import RefundResult
from schemas.provider import TransactionType
from schemas.provider import TransferCommand
from schemas.provider import TransferResult
from schemas.provider import TransferReversalCommand
from schemas.provider_events import ProviderEvent

log = logging.getLogger(__name__)
# The balance movements reconciliation matches with the ledger's.
_MATCHED_TYPES = frozenset(get_args(TransactionType))


def _path(*parts: str) -> str:
    """The gateway's ``/v1/...`` path, every id segment escaped."""
    return url_path("v1", *parts)


class SandboxGateway(ClosedOnExit):
    name = "sandbox"

    def __init__(
        self,
        base_url: str,
        timeout_seconds: float,
        page_size: int = 100,
        webhook_secret: str | None = None,
        token: str | None = None,
    ) -> None:
        self._http = GatewayHttp(base_url, timeout_seconds, token)
        self._page_size = page_size  # of list_transactions (the gateway allows 1..1000)
        self._webhook_secret = webhook_secret

    # Charges.

    async def authorize(self, command: AuthorizeCommand) -> ChargeResult:
        log.info("authorize %s", describe(command))
        body = {
            "amount": command.amount,
            "currency": command.currency,
            "payment_method": command.payment_method,
            "capture": command.capture,
            "reference": command.payment_id,
            "customer_id": command.customer_id,
        }
        if command.three_d_secure:
            # Only when asked: other requests keep the body they always had.
            body["three_d_secure"] = True
        if command.provider_customer is not None:
            body["customer"] = command.provider_customer
        if command.off_session:
            # The customer is away: the gateway charges the saved method or declines it
            # (``authentication_required``); it never waits for an action.
            body["off_session"] = True
        data = await self._http.post("authorize", _path("charges"), body, command.idempotency_key)
        return _charge(data)

    async def capture(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("capture", command, {"amount": command.amount})

    async def void(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("void", command, {})

    async def refund(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("refund", command, {"amount": command.amount})

    async def confirm_action(self, command: ChargeCommand) -> ChargeResult:
        return await self._charge_action("confirm", command, {})

    async def retrieve(self, reference: str) -> ChargeResult:
        return _charge(await self._http.get("retrieve", _path("charges", reference)))

    async def customer_action(self, reference: str) -> CustomerAction | None:
        return redirect_action(await self.retrieve(reference))

    async def find_charge(self, payment_id: str) -> ChargeResult | None:
        """The newest charge of the payment (a declined one raises ``Declined``, as
        ``retrieve`` does)."""
        data = await self._first("find_charge", "charges", payment_id)
        return None if data is None else _charge(data)

    # Customers and saved payment methods, kept by the gateway as Stripe keeps them: a token
    # saved for a customer is a ``pm_…`` of its own, charged for that customer only.

    async def save_customer(self, command: SaveCustomerCommand) -> str:
        log.info("save customer %s", command.customer_id)
        body = {"reference": command.customer_id}
        url = _path("customers")
        return (await self._http.post("save_customer", url, body, command.idempotency_key))["id"]

    async def attach_method(self, command: AttachMethodCommand) -> ProviderCard:
        log.info("attach a payment method to %s", command.customer_reference)
        body = {"payment_method": command.payment_method}
        url = _path("customers", command.customer_reference, "payment_methods")
        data = await self._http.post("attach_method", url, body, command.idempotency_key)
        return saved_card(data)

    async def detach_method(self, reference: str) -> None:
        """A method is detached once and for good, so its id is the key's identity."""
        log.info("detach payment method %s", reference)
        url = _path("payment_methods", reference, "detach")
        await self._http.post("detach_method", url, {}, f"{reference}:detach")

    async def set_default_method(self, customer_reference: str, method_reference: str) -> None:
        # It only sets a value: asking again changes nothing, so no key is needed.
        body = {"default_payment_method": method_reference}
        url = _path("customers", customer_reference)
        await self._http.post("set_default_method", url, body, None)

    # Refunds.

    async def create_refund(self, command: RefundCommand) -> RefundResult:
        log.info("refund %s", describe(command))
        body = {
            "charge": command.charge_reference,
            "amount": command.amount,
            "reference": command.refund_id,
        }
        data = await self._http.post("refund", _path("refunds"), body, command.idempotency_key)
        return _refund(data)

    async def find_refund(self, refund_id: str) -> RefundResult | None:
        data = await self._first("find_refund", "refunds", refund_id)
        return None if data is None else _refund(data)

    # Transfers and payouts.

    async def transfer(self, command: TransferCommand) -> TransferResult:
        log.info("transfer %s", describe(command))
        body = {
            "amount": command.amount,
            "currency": command.currency,
            "destination": command.destination,
            "reference": command.payout_id,
        }
        data = await self._http.post("transfer", _path("transfers"), body, command.idempotency_key)
        return _transfer(data)

    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        log.info("reverse transfer %s", describe(command))
        body = {"amount": command.amount, "reference": command.payout_id}
        url = _path("transfers", command.transfer_reference, "reversals")
        data = await self._http.post("reverse_transfer", url, body, command.idempotency_key)
        return _transfer(data)

    async def payout(self, command: PayoutCommand) -> PayoutResult:
        log.info("payout %s", describe(command))
        body = {
            "amount": command.amount,
            "currency": command.currency,
            "destination": command.destination,
            "bank_account": command.bank_account,
            "reference": command.payout_id,
        }
        if command.method == "instant":
            # Only then: a standard payout's body stays what a retry under its key sent.
            body["method"] = "instant"
        data = await self._http.post("payout", _path("payouts"), body, command.idempotency_key)
        return _payout(data)

    async def create_account(self, command: AccountCommand) -> ProviderAccount:
        log.info("create account %s of %s", command.account_id, command.tenant_id)
        body = {"reference": command.account_id}
        data = await self._http.post(
            "create_account", _path("accounts"), body, command.idempotency_key
        )
        return _account(data)

    async def retrieve_account(self, reference: str) -> ProviderAccount:
        return _account(await self._http.get("retrieve_account", _path("accounts", reference)))

    async def onboarding_link(self, command: OnboardingLinkCommand) -> OnboardingLink:
        body = {
            "account": command.reference,
            "refresh_url": command.refresh_url,
            "return_url": command.return_url,
        }
        data = await self._http.post("onboarding_link", _path("account_links"), body, None)
        return OnboardingLink(url=data["url"], expires_at=data["expires_at"])

    async def find_transfer(self, payout_id: str) -> TransferResult | None:
        data = await self._first("find_transfer", "transfers", payout_id)
        return None if data is None else _transfer(data)

    async def find_payout(self, payout_id: str) -> PayoutResult | None:
        data = await self._first("find_payout", "payouts", payout_id)
        return None if data is None else _payout(data)

    # Reconciliation.

    async def list_transactions(
        self, created_from: datetime, created_before: datetime
    ) -> list[ProviderTransaction]:
        """Every balance movement created in [from, before), oldest first, all pages."""
        params: dict[str, Any] = {
            "created_gte": _utc("created_from", created_from),
            "created_lt": _utc("created_before", created_before),
            "limit": self._page_size,
        }
        transactions: list[ProviderTransaction] = []
        while True:
            page = await self._http.get("list_transactions", _path("balance_transactions"), params)
            data = page.get("data") or []
            # Movements paysaga does not match (a payout the bank returned, on the connected
            # account's balance) are left out.
            transactions += [
                ProviderTransaction.model_validate(item)
                for item in data
                if item.get("type") in _MATCHED_TYPES
            ]
            if not page.get("has_more") or not data:
                return transactions
            params["starting_after"] = data[-1]["id"]

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        return verified_event(headers, body, self._webhook_secret)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _charge_action(
        self, operation: str, command: ChargeCommand, body: dict[str, Any]
    ) -> ChargeResult:
        log.info("%s %s: charge %s", operation, command.payment_id, command.reference)
        url = _path("charges", command.reference, operation)
        return _charge(await self._http.post(operation, url, body, command.idempotency_key))

    async def _first(self, operation: str, resource: str, reference: str) -> dict | None:
        """The newest object of ``resource`` whose ``reference`` is ours, or None."""
        page = await self._http.get(operation, _path(resource), {"reference": reference})
        data = page.get("data") or []
        return data[0] if data else None


def _utc(name: str, moment: datetime) -> str:
    aware = timezone_aware(moment, f"sandbox list_transactions: {name}")
    return aware.astimezone(UTC).isoformat()


def _charge(data: dict[str, Any]) -> ChargeResult:
    if data.get("status") == "declined":  # a retrieved charge that was refused
        failure = data.get("failure") or {}
        code = str(failure.get("decline_code") or failure.get("code") or "declined")
        reason = str(failure.get("message") or "declined")
        raise declined(f"sandbox charge {data.get('id')} is declined: {code}", code, reason)
    next_action = data.get("next_action") or {}
    return ChargeResult(
        reference=data["id"],
        status=data["status"],
        amount=data["amount"],
        currency=str(data["currency"]).upper() if data.get("currency") else None,
        authorized_amount=data.get("amount_authorized", 0),
        captured_amount=data.get("amount_captured", 0),
        refunded_amount=data.get("amount_refunded", 0),
        fee=data.get("fee", 0),
        next_action_url=next_action.get("url"),
    )


def _refund(data: dict[str, Any]) -> RefundResult:
    return RefundResult(
        reference=data["id"],
        refund_id=data.get("reference"),
        charge_reference=data["charge"],
        status=data["status"],
        amount=data["amount"],
        currency=data["currency"],
        failure_code=data.get("failure_code"),
        failure_message=data.get("failure_message"),
        arrival_date=data.get("arrival_date"),
    )


def _account(data: dict[str, Any]) -> ProviderAccount:
    requirements = data.get("requirements") or {}
    return ProviderAccount(
        reference=data["id"],
        charges_enabled=data["charges_enabled"],
        payouts_enabled=data["payouts_enabled"],
        requirements_due=requirements.get("currently_due") or [],
        disabled_reason=requirements.get("disabled_reason"),
    )


def _transfer(data: dict[str, Any]) -> TransferResult:
    return TransferResult(
        reference=data["id"],
        payout_id=data.get("reference"),
        destination=data["destination"],
        status=data["status"],
        amount=data["amount"],
        amount_reversed=data.get("amount_reversed", 0),
        currency=data["currency"],
    )


def _payout(data: dict[str, Any]) -> PayoutResult:
    return PayoutResult(
        reference=data["id"],
        payout_id=data.get("reference"),
        destination=data["destination"],
        status=data["status"],
        amount=data["amount"],
        currency=data["currency"],
        failure_code=data.get("failure_code"),
        failure_message=data.get("failure_message"),
        arrival_date=data.get("arrival_date"),
    )
