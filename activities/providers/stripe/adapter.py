"""Stripe as a ``PaymentProvider``: PaymentIntents for charges, Refunds, Connect transfers
and payouts, balance transactions for reconciliation, signed webhooks.

Every POST carries the command's ``idempotency_key`` and our ids as metadata (``payment_id``,
``refund_id``, ``payout_id``, ``tenant_id``), so a retry after ``OutcomeUnknown`` is applied
once by Stripe and ``find_*`` can find Stripe's object again when an answer was lost. Our own
idempotency never relies on the provider honouring keys (localstripe ignores them).

The SDK's clients, calls, paging and how its failures map to the error taxonomy are in
``http``; webhook signatures and how events map to ``ProviderEvent`` are in ``events``. This
module is about what Stripe's objects mean.

ChargeResult from a PaymentIntent (``reference`` = the PaymentIntent id):

========================================  ==============================================
PaymentIntent status                      ``ChargeResult`` / failure
========================================  ==============================================
``requires_action``                       ``requires_action`` (+ ``next_action_url``)
``requires_confirmation``                 ``requires_action`` (``confirm_action`` confirms)
``requires_capture``                      ``authorized``
``succeeded``                             ``captured``, or ``refunded`` once all given back
``canceled``                              ``voided``
``requires_payment_method`` (confirmed)   ``Declined`` (decline code of the last error)
``processing``                            ``OutcomeUnknown``: read it again later
========================================  ==============================================
"""

import logging
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any

import stripe
from temporalio.exceptions import ApplicationError

from activities.providers.base import ClosedOnExit
from activities.providers.base import describe
from activities.providers.base import saved_card
from activities.providers.errors import declined
from activities.providers.errors import invalid_request
from activities.providers.errors import outcome_unknown
from activities.providers.errors import timezone_aware
from activities.providers.stripe.currencies import STRIPE_CURRENCIES
from activities.providers.stripe.events import verified_event
from activities.providers.stripe.http import PAGE_SIZE
from activities.providers.stripe.http import StripeHttp
from activities.providers.stripe.http import get
from activities.providers.stripe.http import idempotent
from activities.providers.stripe.http import post
from schemas import errors
from schemas.customers import AttachMethodCommand
from schemas.customers import CancelSetupCommand
from schemas.customers import ProviderCard
from schemas.customers import SaveCustomerCommand
from schemas.customers import SetupCommand
from schemas.customers import SetupResult
from schemas.disputes import DisputeActionCommand
from schemas.disputes import DisputeFunds
from schemas.disputes import DisputeStatus
from schemas.disputes import ProviderDispute
from schemas.money import AmountNotRepresentable
from schemas.money import CurrencyNotSupported
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
from schemas.provider_events import WebhookSignatureError

log = logging.getLogger(__name__)

# The charge behind a PaymentIntent, with its balance transaction (the fee), in one answer.
_CHARGE = "latest_charge.balance_transaction"

# A refund's balance transactions: the refund, and its money coming back when it failed.
REFUNDED = ("refund", "refund_failure")
PAYMENT_TRANSACTIONS = ("charge", *REFUNDED)
_TRANSACTION_TYPES: dict[str, TransactionType] = {
    "charge": "charge",
    "payment": "charge",
    "refund": "refund",
    "payment_refund": "refund",
    "refund_failure": "refund_failure",
    "transfer": "transfer",
    "transfer_refund": "transfer_reversal",
    "payout": "payout",
}


class StripeProvider(ClosedOnExit):
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        connect_api_base: str | None = None,
        webhook_secret: str | None = None,
        connect_webhook_secret: str | None = None,
        timeout_seconds: float = 10.0,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self._http = StripeHttp(api_key, api_base, connect_api_base, timeout_seconds, page_size)
        self._stripe = self._http.platform
        self._connect = self._http.connect
        self._webhook_secret = webhook_secret
        self._connect_webhook_secret = connect_webhook_secret

    # Charges.

    async def authorize(self, command: AuthorizeCommand) -> ChargeResult:
        log.info("authorize %s", describe(command))
        params: dict[str, Any] = {
            "amount": _to_stripe(command.amount, command.currency),
            "currency": command.currency.lower(),
            "confirm": True,
            "capture_method": "automatic" if command.capture else "manual",
            # Cards only: no redirect-based method that would need a return_url.
            "payment_method_types": ["card"],
            "metadata": _metadata(
                payment_id=command.payment_id,
                tenant_id=command.tenant_id,
                customer_id=command.customer_id,
            ),
            "expand": [_CHARGE],
        }
        params |= _payment_method(command.payment_method)
        if command.provider_customer is not None:
            params["customer"] = command.provider_customer
        if command.off_session:
            # The customer is away: Stripe charges the saved method or declines it
            # (``authentication_required``); it never waits for an action.
            params["off_session"] = True
        if command.three_d_secure:
            # The risk rules asked for it: Stripe challenges the card whenever it can.
            params["payment_method_options"] = {"card": {"request_three_d_secure": "any"}}
        call = self._stripe.v1.payment_intents.create_async(params, idempotent(command))
        return _charge(await post("authorize", call))

    async def capture(self, command: ChargeCommand) -> ChargeResult:
        log.info("capture %s: %s of %s", command.payment_id, command.amount, command.reference)
        params: dict[str, Any] = {"expand": [_CHARGE]}
        if command.amount is not None:
            params["amount_to_capture"] = _to_stripe(command.amount, command.currency)
        intents = self._stripe.v1.payment_intents
        call = intents.capture_async(command.reference, params, idempotent(command))
        return _charge(await post("capture", call))

    async def void(self, command: ChargeCommand) -> ChargeResult:
        log.info("void %s: %s", command.payment_id, command.reference)
        intents = self._stripe.v1.payment_intents
        call = intents.cancel_async(command.reference, {"expand": [_CHARGE]}, idempotent(command))
        return _charge(await post("void", call))

    async def refund(self, command: ChargeCommand) -> ChargeResult:
        """A Refund on the PaymentIntent, answered with the PaymentIntent it changed (expanded
        in the same answer, so a lost read cannot follow a refund that was made)."""
        log.info("refund %s: %s of %s", command.payment_id, command.amount, command.reference)
        params: dict[str, Any] = {
            "payment_intent": command.reference,
            "metadata": _metadata(payment_id=command.payment_id),
            "expand": [f"payment_intent.{_CHARGE}"],
        }
        if command.amount is not None:
            params["amount"] = _to_stripe(command.amount, command.currency)
        call = self._stripe.v1.refunds.create_async(params, idempotent(command))
        refund = await post("refund", call)
        return _charge(refund["payment_intent"])

    async def confirm_action(self, command: ChargeCommand) -> ChargeResult:
        intent = await self._intent("confirm_action", command.reference)
        if intent.get("status") == "requires_confirmation":
            log.info("confirm %s: %s", command.payment_id, command.reference)
            intents = self._stripe.v1.payment_intents
            call = intents.confirm_async(
                command.reference, {"expand": [_CHARGE]}, idempotent(command)
            )
            intent = await post("confirm_action", call)
        return _charge(intent)

    async def retrieve(self, reference: str) -> ChargeResult:
        return _charge(await self._intent("retrieve", reference))

    async def customer_action(self, reference: str) -> CustomerAction | None:
        """A redirect when Stripe gives one; otherwise the client secret, for Stripe.js."""
        intent = await self._intent("customer_action", reference)
        if intent.get("status") != "requires_action":
            return None
        action = intent.get("next_action") or {}
        url = (action.get("redirect_to_url") or {}).get("url")
        if url:
            return CustomerAction(type="redirect_to_url", url=url)
        return CustomerAction(type="use_stripe_sdk", client_secret=intent["client_secret"])

    async def find_charge(self, payment_id: str) -> ChargeResult | None:
        """The newest PaymentIntent whose metadata names the payment.

        Stripe's search API is eventually consistent (a PaymentIntent created seconds ago, the
        case after a lost answer, may be missing) and localstripe lacks it, so this lists every
        PaymentIntent: one request per 100 of them."""
        found = await self._http.newest(
            "find_charge",
            lambda params: self._stripe.v1.payment_intents.list_async(params),
            {},
            "payment_id",
            payment_id,
        )
        return None if found is None else await self.retrieve(found["id"])

    # Customers and saved payment methods.

    async def save_customer(self, command: SaveCustomerCommand) -> str:
        log.info("save customer %s", command.customer_id)
        params = {
            "metadata": _metadata(customer_id=command.customer_id, tenant_id=command.tenant_id)
        }
        call = self._stripe.v1.customers.create_async(params, idempotent(command))
        return (await post("save_customer", call))["id"]

    async def attach_method(self, command: AttachMethodCommand) -> ProviderCard:
        log.info("attach a payment method to %s", command.customer_reference)
        methods = self._stripe.v1.payment_methods
        params = {"customer": command.customer_reference}
        call = methods.attach_async(command.payment_method, params, idempotent(command))
        return saved_card(await post("attach_method", call))

    async def detach_method(self, reference: str) -> None:
        log.info("detach payment method %s", reference)
        await post("detach_method", self._stripe.v1.payment_methods.detach_async(reference))

    async def set_default_method(self, customer_reference: str, method_reference: str) -> None:
        params = {"invoice_settings": {"default_payment_method": method_reference}}
        call = self._stripe.v1.customers.update_async(customer_reference, params)
        await post("set_default_method", call)

    async def set_up_method(self, command: SetupCommand) -> SetupResult:
        """A SetupIntent for off-session use, confirmed with the token: Stripe attaches the
        PaymentMethod to the customer once it succeeds (at once, or after 3-D Secure)."""
        log.info("set up a payment method for %s", command.customer_reference)
        params = {
            "customer": command.customer_reference,
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": _metadata(
                payment_method_id=command.payment_method_id, tenant_id=command.tenant_id
            ),
        }
        intents = self._stripe.v1.setup_intents
        created = await post("set_up_method", intents.create_async(params, idempotent(command)))
        if created.get("status") == "requires_payment_method":
            confirm = {"payment_method": command.payment_method}
            key: stripe.RequestOptions = {"idempotency_key": f"{command.idempotency_key}:confirm"}
            call = intents.confirm_async(created["id"], confirm, key)
            created = await post("set_up_method", call)
        return await self._setup(created)

    async def cancel_setup(self, command: CancelSetupCommand) -> SetupResult | None:
        intents = self._stripe.v1.setup_intents
        call = intents.cancel_async(command.reference, {}, idempotent(command))
        try:
            await post("cancel_setup", call)
        except ApplicationError as refused:
            # Stripe cancels only a setup that has not succeeded: one that did is answered.
            if refused.type != errors.INVALID_REQUEST:
                raise
            setup = await self.retrieve_setup(command.reference)
            if setup.status != "succeeded":
                raise
            return setup
        return None

    async def retrieve_setup(self, reference: str) -> SetupResult:
        intents = self._stripe.v1.setup_intents
        return await self._setup(await get("retrieve_setup", intents.retrieve_async(reference)))

    async def setup_action(self, reference: str) -> CustomerAction | None:
        intents = self._stripe.v1.setup_intents
        intent = await get("setup_action", intents.retrieve_async(reference))
        if intent.get("status") != "requires_action":
            return None
        url = ((intent.get("next_action") or {}).get("redirect_to_url") or {}).get("url")
        if url:
            return CustomerAction(type="redirect_to_url", url=url)
        return CustomerAction(type="use_stripe_sdk", client_secret=intent["client_secret"])

    async def _setup(self, intent: dict[str, Any]) -> SetupResult:
        status, reference = intent.get("status"), intent["id"]
        if status in ("requires_action", "requires_confirmation"):
            return SetupResult(reference=reference, status="requires_action")
        if status == "succeeded":
            method = await get(
                "retrieve_setup",
                self._stripe.v1.payment_methods.retrieve_async(intent["payment_method"]),
            )
            return SetupResult(reference=reference, status="succeeded", card=saved_card(method))
        error = intent.get("last_setup_error") or {}
        code = str(error.get("decline_code") or error.get("code") or status)
        reason = str(error.get("message") or "the payment method was not set up")
        raise declined(f"stripe setup intent {reference} is {status}: {code}", code, reason)

    # Refunds.

    async def create_refund(self, command: RefundCommand) -> RefundResult:
        log.info("refund %s", describe(command))
        params = {
            "payment_intent": command.charge_reference,
            "amount": _to_stripe(command.amount, command.currency),
            "metadata": _metadata(
                refund_id=command.refund_id,
                payment_id=command.payment_id,
                tenant_id=command.tenant_id,
            ),
        }
        call = self._stripe.v1.refunds.create_async(params, idempotent(command))
        return _refund(await post("create_refund", call))

    async def find_refund(self, refund_id: str) -> RefundResult | None:
        """Lists every refund (no search by metadata): one request per 100 of them."""
        found = await self._http.newest(
            "find_refund",
            lambda params: self._stripe.v1.refunds.list_async(params),
            {},
            "refund_id",
            refund_id,
        )
        return None if found is None else _refund(found)

    # Transfers and payouts (Connect).

    async def transfer(self, command: TransferCommand) -> TransferResult:
        log.info("transfer %s", describe(command))
        params = _payout_money(command, command.destination)
        # Lets find_transfer filter on Stripe's side instead of listing every transfer.
        params["transfer_group"] = command.payout_id
        call = self._connect.v1.transfers.create_async(params, idempotent(command))
        return _transfer(await post("transfer", call))

    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        log.info("reverse transfer %s", describe(command))
        params = {
            "amount": _to_stripe(command.amount, command.currency),
            "metadata": _metadata(payout_id=command.payout_id),
            "expand": ["transfer"],  # the transfer with this reversal counted, in one answer
        }
        reversals = self._connect.v1.transfers.reversals
        call = reversals.create_async(command.transfer_reference, params, idempotent(command))
        reversal = await post("reverse_transfer", call)
        return _transfer(reversal["transfer"])

    async def payout(self, command: PayoutCommand) -> PayoutResult:
        log.info("payout %s (%s)", describe(command), command.method)
        params = _payout_money(command, command.bank_account)
        if command.method == "instant":
            # Only then: a standard payout's parameters stay what a retry under its key sent.
            params["method"] = "instant"
        options: stripe.RequestOptions = {
            "idempotency_key": command.idempotency_key,
            "stripe_account": command.destination,  # the connected account pays out
        }
        call = self._connect.v1.payouts.create_async(params, options)
        return _payout(await post("payout", call), command.destination)

    async def create_account(self, command: AccountCommand) -> ProviderAccount:
        """An Express account that can receive transfers; Stripe collects what it needs to
        know (identity, bank account) on its own onboarding pages."""
        log.info("create account %s of %s", command.account_id, command.tenant_id)
        params: dict[str, Any] = {
            "type": "express",
            "capabilities": {"transfers": {"requested": True}},
            "metadata": _metadata(account_id=command.account_id, tenant_id=command.tenant_id),
        }
        call = self._connect.v1.accounts.create_async(params, idempotent(command))
        return _account(await post("create_account", call))

    async def retrieve_account(self, reference: str) -> ProviderAccount:
        return _account(
            await get("retrieve_account", self._connect.v1.accounts.retrieve_async(reference))
        )

    async def onboarding_link(self, command: OnboardingLinkCommand) -> OnboardingLink:
        """An Account Link: single use, expires within minutes, so it is never stored."""
        params = {
            "account": command.reference,
            "type": "account_onboarding",
            "refresh_url": command.refresh_url,
            "return_url": command.return_url,
        }
        link = await post("onboarding_link", self._connect.v1.account_links.create_async(params))
        return OnboardingLink(
            url=link["url"], expires_at=datetime.fromtimestamp(link["expires_at"], UTC)
        )

    async def find_transfer(self, payout_id: str) -> TransferResult | None:
        found = await self._http.newest(
            "find_transfer",
            lambda params: self._connect.v1.transfers.list_async(params),
            {"transfer_group": payout_id},
            "payout_id",
            payout_id,
        )
        return None if found is None else _transfer(found)

    async def find_payout(self, payout_id: str) -> PayoutResult | None:
        """Payouts live on the connected account, which only the payout's transfer names:
        no transfer, no payout."""
        transfer = await self.find_transfer(payout_id)
        if transfer is None:
            return None
        account = transfer.destination
        found = await self._http.newest(
            "find_payout",
            lambda params: self._connect.v1.payouts.list_async(params, {"stripe_account": account}),
            {},
            "payout_id",
            payout_id,
        )
        return None if found is None else _payout(found, account)

    # Disputes.

    async def retrieve_dispute(self, reference: str) -> ProviderDispute:
        disputes = self._stripe.v1.disputes
        return _dispute(await get("retrieve_dispute", disputes.retrieve_async(reference)))

    async def submit_dispute_evidence(self, command: DisputeActionCommand) -> ProviderDispute:
        assert command.evidence is not None, "evidence to submit"
        log.info(
            "dispute %s: evidence (submit=%s)", command.provider_reference, command.evidence.submit
        )
        params: dict[str, Any] = {
            "evidence": command.evidence.fields(),
            "submit": command.evidence.submit,
        }
        disputes = self._stripe.v1.disputes
        call = disputes.update_async(command.provider_reference, params, idempotent(command))
        return _dispute(await post("submit_dispute_evidence", call))

    async def accept_dispute(self, command: DisputeActionCommand) -> ProviderDispute:
        log.info("dispute %s: accept", command.provider_reference)
        disputes = self._stripe.v1.disputes
        call = disputes.close_async(command.provider_reference, {}, idempotent(command))
        return _dispute(await post("accept_dispute", call))

    # Reconciliation.

    async def list_transactions(
        self, created_from: datetime, created_before: datetime
    ) -> list[ProviderTransaction]:
        """The platform's balance transactions in [from, before), oldest first, all pages.
        Types paysaga does not move (fees, other adjustments, …) are left out; a dispute's
        adjustments are kept, named by the dispute."""
        params: dict[str, Any] = {
            "created": {
                "gte": _timestamp("created_from", created_from),
                "lt": _timestamp("created_before", created_before),
            },
            "expand": ["data.source"],  # our ids are in the source's metadata
        }
        transactions = [
            transaction
            async for item in self._http.pages(
                "list_transactions",
                lambda page: self._stripe.v1.balance_transactions.list_async(page),
                params,
            )
            if (transaction := _transaction(item)) is not None
        ]
        # Stripe lists newest first; reversed, a stable sort keeps each second's order.
        return sorted(reversed(transactions), key=lambda transaction: transaction.created)

    # Webhooks.

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """Events of the platform's account, or of its connected accounts (payouts): Stripe
        signs those for a Connect endpoint, which has a signing secret of its own."""
        if self._connect_webhook_secret:
            try:
                return verified_event(headers, body, self._webhook_secret)
            except WebhookSignatureError:
                return verified_event(headers, body, self._connect_webhook_secret)
        return verified_event(headers, body, self._webhook_secret)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _intent(self, operation: str, reference: str) -> dict[str, Any]:
        intents = self._stripe.v1.payment_intents
        return await get(operation, intents.retrieve_async(reference, {"expand": [_CHARGE]}))


def _metadata(**values: str | None) -> dict[str, str]:
    """Stripe metadata: strings only, and no key for what we do not have (e.g. tenant)."""
    return {key: value for key, value in values.items() if value is not None}


def _payout_money(command: TransferCommand | PayoutCommand, destination: str) -> dict[str, Any]:
    """What a payout's transfer and its bank payout both send: the money, where it goes (the
    connected account, its bank account) and our payout id."""
    try:
        amount = STRIPE_CURRENCIES.to_provider_payout(command.amount, command.currency)
    except (CurrencyNotSupported, AmountNotRepresentable) as e:
        raise invalid_request(str(e)) from None
    return {
        "amount": amount,
        "currency": command.currency.lower(),
        "destination": destination,
        "metadata": _metadata(payout_id=command.payout_id),
    }


def _payment_method(payment_method: str) -> dict[str, Any]:
    # A legacy card token is not a PaymentMethod: Stripe makes one from it on the fly.
    if payment_method.startswith("tok_"):
        return {"payment_method_data": {"type": "card", "card": {"token": payment_method}}}
    return {"payment_method": payment_method}


def _to_stripe(amount: int, currency: str) -> int:
    """ISO minor units as Stripe's API amount, refused before any call when not exact."""
    try:
        return STRIPE_CURRENCIES.to_provider(amount, currency)
    except (CurrencyNotSupported, AmountNotRepresentable) as e:
        raise invalid_request(str(e)) from None


def _iso(data: dict[str, Any], amount: int) -> int:
    """A Stripe amount of ``data`` (which names its currency) in ISO minor units."""
    return STRIPE_CURRENCIES.from_provider(amount, data["currency"])


def _charge(intent: dict[str, Any]) -> ChargeResult:
    status = intent.get("status")
    reference = intent["id"]
    amount = _iso(intent, intent["amount"])
    if status == "requires_payment_method":  # confirmed, then declined or not authenticated
        error = intent.get("last_payment_error") or {}
        code = str(error.get("decline_code") or error.get("code") or "requires_payment_method")
        reason = str(error.get("message") or "declined")
        raise declined(f"stripe payment intent {reference} is declined: {code}", code, reason)
    if status == "processing":
        raise outcome_unknown(f"stripe payment intent {reference} is still processing")
    fields: dict[str, Any] = {
        "reference": reference,
        "amount": amount,
        "currency": str(intent["currency"]).upper(),
    }
    if status in ("requires_action", "requires_confirmation"):
        fields |= {"status": "requires_action", "next_action_url": _next_action_url(intent)}
    elif status == "requires_capture":
        fields |= {"status": "authorized"}
        capturable = intent.get("amount_capturable")
        fields["authorized_amount"] = _iso(intent, capturable) if capturable else amount
    elif status == "succeeded":
        fields |= {"authorized_amount": amount} | _captured_fields(intent)
    elif status == "canceled":
        fields |= {"status": "voided"}
    else:
        raise invalid_request(f"stripe payment intent {reference}: unexpected status {status}")
    return ChargeResult(**fields)


def _captured_fields(intent: dict[str, Any]) -> dict[str, Any]:
    charge = intent.get("latest_charge")
    charge = charge if isinstance(charge, dict) else {}
    captured = _captured(intent, charge)
    # Stripe counts the part a partial capture released as refunded: leave it out.
    refunded = max(0, charge.get("amount_refunded", 0) - (charge.get("amount", 0) - captured))
    balance = charge.get("balance_transaction")
    fee = balance.get("fee", 0) if isinstance(balance, dict) else 0
    return {
        "status": "refunded" if captured > 0 and refunded >= captured else "captured",
        "captured_amount": _iso(intent, captured),
        "refunded_amount": _iso(intent, refunded),
        "fee": _iso(intent, fee),
    }


def _captured(intent: dict[str, Any], charge: dict[str, Any]) -> int:
    if "amount_received" in intent:
        return intent["amount_received"]
    if "amount_captured" in charge:
        return charge["amount_captured"]
    # localstripe reports neither; like Stripe it releases what a partial capture left as a
    # refund, the only one without our metadata.
    refunds = (charge.get("refunds") or {}).get("data") or []
    released = sum(r["amount"] for r in refunds if not (r.get("metadata") or {}).get("payment_id"))
    return charge.get("amount", intent["amount"]) - released if charge.get("captured") else 0


def _next_action_url(intent: dict[str, Any]) -> str:
    """Where the customer authenticates: the redirect URL when Stripe gives one; otherwise
    (``use_stripe_sdk``: Stripe.js ``handleNextAction``) an identifier naming the intent and
    the action, never the client secret, which must not enter workflow history."""
    action = intent.get("next_action") or {}
    url = (action.get("redirect_to_url") or {}).get("url")
    return url or f"stripe:{action.get('type') or 'confirm'}:{intent['id']}"


def _refund(data: dict[str, Any]) -> RefundResult:
    status = data.get("status")
    metadata = data.get("metadata") or {}
    charge = data.get("payment_intent") or data.get("charge")
    return RefundResult(
        reference=data["id"],
        refund_id=metadata.get("refund_id"),
        charge_reference=charge["id"] if isinstance(charge, dict) else charge,
        # A pending refund has been accepted; should it fail later, refund.failed says so.
        status="failed" if status in ("failed", "canceled") else "succeeded",
        amount=_iso(data, data["amount"]),
        currency=data["currency"].upper(),
        failure_code=data.get("failure_reason") if status in ("failed", "canceled") else None,
        failure_message=None,
    )


def _transfer(data: dict[str, Any]) -> TransferResult:
    reversed_amount = data.get("amount_reversed", 0)
    return TransferResult(
        reference=data["id"],
        payout_id=(data.get("metadata") or {}).get("payout_id"),
        destination=data["destination"],
        status="reversed" if data.get("reversed") or reversed_amount >= data["amount"] else "paid",
        amount=_iso(data, data["amount"]),
        amount_reversed=_iso(data, reversed_amount),
        currency=data["currency"].upper(),
    )


def _payout(data: dict[str, Any], account: str) -> PayoutResult:
    failed = data.get("status") in ("failed", "canceled")
    return PayoutResult(
        reference=data["id"],
        payout_id=(data.get("metadata") or {}).get("payout_id"),
        destination=account,
        # pending / in_transit count as paid: a later failure arrives as payout.failed.
        status="failed" if failed else "paid",
        amount=_iso(data, data["amount"]),
        currency=data["currency"].upper(),
        failure_code=data.get("failure_code") if failed else None,
        failure_message=data.get("failure_message") if failed else None,
        arrived_at=_moment(data.get("arrival_date")) if data.get("status") == "paid" else None,
        arrival_date=_moment(data.get("arrival_date")),
    )


def _dispute(data: dict[str, Any]) -> ProviderDispute:
    details = data.get("evidence_details") or {}
    return ProviderDispute(
        reference=data["id"],
        # The payment knows its PaymentIntent; a charge made without one only its charge.
        charge_reference=data.get("payment_intent") or data.get("charge"),
        amount=_iso(data, data["amount"]),
        currency=data["currency"].upper(),
        reason=data.get("reason"),
        status=DisputeStatus(data["status"]),
        evidence_due_by=_moment(details.get("due_by")),
        evidence_submissions=details.get("submission_count") or 0,
        funds=[
            DisputeFunds(
                reference=t["id"],
                amount=_iso(t, t["amount"]),
                fee=_iso(t, t.get("fee", 0)),
                currency=t["currency"].upper(),
                created=datetime.fromtimestamp(t["created"], UTC),
            )
            for t in data.get("balance_transactions") or []
        ],
    )


def _account(data: dict[str, Any]) -> ProviderAccount:
    requirements = data.get("requirements") or {}
    return ProviderAccount(
        reference=data["id"],
        charges_enabled=bool(data.get("charges_enabled")),
        payouts_enabled=bool(data.get("payouts_enabled")),
        requirements_due=list(requirements.get("currently_due") or []),
        disabled_reason=requirements.get("disabled_reason"),
    )


def _moment(timestamp: Any) -> datetime | None:
    return datetime.fromtimestamp(timestamp, UTC) if isinstance(timestamp, int) else None


def _transaction(data: dict[str, Any]) -> ProviderTransaction | None:
    source = data.get("source")
    source = source if isinstance(source, dict) else {"id": source}
    if _is_dispute_adjustment(data, source):
        return ProviderTransaction(
            id=data["id"],
            type="dispute",
            amount=_iso(data, data["amount"]),
            fee=_iso(data, data.get("fee", 0)),
            currency=data["currency"].upper(),
            source=source["id"],
            reference=source["id"],  # the provider's dispute: ours is derived from it
            created=datetime.fromtimestamp(data["created"], UTC),
        )
    kind = _TRANSACTION_TYPES.get(data.get("type", ""))
    if kind is None:
        return None
    metadata = source.get("metadata") or {}
    payment_id = metadata.get("payment_id") if kind in PAYMENT_TRANSACTIONS else None
    own_id = {"charge": "payment_id"}.get(kind, "refund_id" if kind in REFUNDED else "payout_id")
    return ProviderTransaction(
        id=data["id"],
        type=kind,
        amount=_iso(data, data["amount"]),
        fee=_iso(data, data.get("fee", 0)),
        currency=data["currency"].upper(),
        source=source["id"],
        reference=metadata.get(own_id),
        payment_id=payment_id,
        created=datetime.fromtimestamp(data["created"], UTC),
    )


def _is_dispute_adjustment(data: dict[str, Any], source: dict[str, Any]) -> bool:
    """A dispute's withdrawal or reinstatement: an ``adjustment`` whose source is the
    dispute (reporting category ``dispute`` / ``dispute_reversal``)."""
    return data.get("type") == "adjustment" and (
        source.get("object") == "dispute" or str(source.get("id", "")).startswith("dp_")
    )


def _timestamp(name: str, moment: datetime) -> int:
    return int(timezone_aware(moment, f"stripe list_transactions: {name}").timestamp())
