"""``PaymentProvider`` over PayPal's Orders v2 and Payments v2 REST APIs.

The ``ChargeResult.reference`` of a payment is its PayPal **order id** for its whole life:
capture, void and refund read the authorization or capture id from ``GET`` of the order, and
every answer is the order's state again. The buyer approves an order on PayPal's site, so
``authorize`` always answers ``requires_action`` with the ``payer-action`` link and
``confirm_action`` authorizes or captures once the order is ``APPROVED``.

Every POST that moves money carries ``PayPal-Request-Id`` = the command's idempotency key, so
a retry after ``OutcomeUnknown`` replays PayPal's first answer (error taxonomy: ``http``).

What PayPal cannot do here, said plainly:

- ``find_charge`` / ``find_refund`` answer None: the Orders and Payments APIs cannot search by
  our ``reference_id`` / ``custom_id`` (only Transaction Search can, hours late). None means
  "unknown", not "absent": reconciliation of PayPal goes by order id through ``retrieve``, and
  a lost answer is recovered by retrying with the same idempotency key.
- A ``PENDING`` refund counts as ``succeeded``: PayPal has accepted it and will complete it
  without us; answering ``failed`` would let the saga give the money back a second time.
- ``transfer``, ``reverse_transfer``, ``payout``, ``find_transfer``, ``find_payout`` and
  ``list_transactions`` raise ``InvalidRequest``: PayPal Payouts and Transaction Search are
  other products this adapter does not speak.
"""

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from typing import NoReturn

from activities.providers.base import ClosedOnExit
from activities.providers.base import describe
from activities.providers.base import redirect_action
from activities.providers.base import url_path
from activities.providers.errors import declined
from activities.providers.errors import invalid_request
from activities.providers.paypal.events import verified_event
from activities.providers.paypal.http import PayPalHttp
from activities.providers.paypal.http import minor_units
from activities.providers.paypal.http import paypal_amount
from schemas.disputes import DisputeActionCommand
from schemas.disputes import DisputeStatus
from schemas.disputes import ProviderDispute
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
from schemas.provider import TransferCommand
from schemas.provider import TransferResult
from schemas.provider import TransferReversalCommand
from schemas.provider_events import ProviderEvent

log = logging.getLogger(__name__)

# Statuses of the order's payments that hold or moved money.
_HELD = {"CREATED", "PENDING", "PARTIALLY_CAPTURED", "CAPTURED"}
_CAPTURED = {"COMPLETED", "PENDING", "PARTIALLY_REFUNDED", "REFUNDED"}
_REFUNDED = {"COMPLETED", "PENDING"}  # PENDING: see the module docstring
_REFUND_STATUS = {"COMPLETED": "succeeded", "PENDING": "succeeded"}


def _order_path(order_id: str, *action: str) -> str:
    return url_path("v2", "checkout", "orders", order_id, *action)


class PayPalProvider(ClosedOnExit):
    name = "paypal"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        webhook_id: str | None,
        return_url: str,
        cancel_url: str,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._http = PayPalHttp(base_url, client_id, client_secret, timeout_seconds)
        self._webhook_id = webhook_id
        self._return_url = return_url
        self._cancel_url = cancel_url

    # Charges.

    async def authorize(self, command: AuthorizeCommand) -> ChargeResult:
        log.info("create order for %s", describe(command))
        body = {
            "intent": "CAPTURE" if command.capture else "AUTHORIZE",
            "purchase_units": [
                {
                    "reference_id": command.payment_id,
                    "custom_id": command.tenant_id or "",
                    # A dispute names its transaction by this (``invoice_number``) and by
                    # the capture id, never by the order: our payment id lets it find its
                    # payment.
                    "invoice_id": command.payment_id,
                    "amount": paypal_amount(command.amount, command.currency),
                }
            ],
            "payment_source": {
                "paypal": {
                    "experience_context": {
                        "return_url": self._return_url,
                        "cancel_url": self._cancel_url,
                        "user_action": "PAY_NOW",
                    }
                }
            },
        }
        url = url_path("v2", "checkout", "orders")
        return _charge(await self._http.post("create order", url, body, command.idempotency_key))

    async def confirm_action(self, command: ChargeCommand) -> ChargeResult:
        """Authorize or capture an approved order; an order already ``COMPLETED`` (a retry
        after a lost answer) is reported as it is, without posting again."""
        order = await self._order("confirm", command.reference)
        if order.get("status") != "APPROVED":
            return _charge(order)
        action = "capture" if order.get("intent") == "CAPTURE" else "authorize"
        log.info("%s order %s of %s", action, command.reference, command.payment_id)
        url = _order_path(command.reference, action)
        return _charge(await self._http.post(action, url, {}, command.idempotency_key))

    async def capture(self, command: ChargeCommand) -> ChargeResult:
        authorization = _last(await self._order("capture", command.reference), "authorizations")
        body: dict[str, Any] = {"final_capture": True}  # the rest of the hold is released
        if command.amount is not None:
            body["amount"] = paypal_amount(command.amount, command.currency)
        log.info("capture %s: order %s", command.payment_id, command.reference)
        url = url_path("v2", "payments", "authorizations", authorization["id"], "capture")
        capture = await self._http.post("capture", url, body, command.idempotency_key)
        _raise_if_refused(capture, "capture")
        return await self.retrieve(command.reference)

    async def void(self, command: ChargeCommand) -> ChargeResult:
        """Void the order's authorization. An order the buyer never approved (or that was
        never authorized) holds no money: there is nothing to void, and PayPal lets the
        order expire on its own, so it is reported voided without a call."""
        order = await self._order("void", command.reference)
        if not _payments(order).get("authorizations") and order.get("status") != "COMPLETED":
            log.info("void %s: order %s was never authorized", command.payment_id, order["id"])
            return _charge(order).model_copy(update={"status": "voided", "next_action_url": None})
        authorization = _last(order, "authorizations")
        log.info("void %s: order %s", command.payment_id, command.reference)
        url = url_path("v2", "payments", "authorizations", authorization["id"], "void")
        await self._http.post("void", url, {}, command.idempotency_key)
        return await self.retrieve(command.reference)

    async def refund(self, command: ChargeCommand) -> ChargeResult:
        """The saga's compensation: ``amount`` None refunds what is left of the capture."""
        log.info("refund %s: order %s", command.payment_id, command.reference)
        await self._refund_capture(
            "refund", command.reference, command.amount, command.currency, command.idempotency_key
        )
        return await self.retrieve(command.reference)

    async def retrieve(self, reference: str) -> ChargeResult:
        return _charge(await self._order("retrieve", reference))

    async def customer_action(self, reference: str) -> CustomerAction | None:
        return redirect_action(await self.retrieve(reference))

    async def find_charge(self, payment_id: str) -> ChargeResult | None:
        """Always None: orders cannot be searched by ``reference_id`` (module docstring)."""
        return None

    # Refunds.

    async def create_refund(self, command: RefundCommand) -> RefundResult:
        log.info("refund %s", describe(command))
        refund = await self._refund_capture(
            "create refund",
            command.charge_reference,
            command.amount,
            command.currency,
            command.idempotency_key,
            custom_id=command.refund_id,
        )
        status = _REFUND_STATUS.get(str(refund.get("status")), "failed")
        reason = (refund.get("status_details") or {}).get("reason")
        return RefundResult(
            reference=refund["id"],
            refund_id=refund.get("custom_id") or command.refund_id,
            charge_reference=command.charge_reference,
            status=status,
            amount=minor_units(refund.get("amount")) or command.amount,
            currency=(refund.get("amount") or {}).get("currency_code", command.currency),
            failure_code=None if status == "succeeded" else str(refund.get("status")),
            failure_message=None if status == "succeeded" else reason,
        )

    async def find_refund(self, refund_id: str) -> RefundResult | None:
        """Always None: refunds cannot be searched by ``custom_id`` (module docstring)."""
        return None

    # Transfers and payouts: PayPal Payouts is another product.

    async def transfer(self, command: TransferCommand) -> TransferResult:
        _unsupported("transfer")

    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        _unsupported("reverse_transfer")

    async def payout(self, command: PayoutCommand) -> PayoutResult:
        _unsupported("payout")

    async def create_account(self, command: AccountCommand) -> ProviderAccount:
        _unsupported("create_account")

    async def retrieve_account(self, reference: str) -> ProviderAccount:
        _unsupported("retrieve_account")

    async def onboarding_link(self, command: OnboardingLinkCommand) -> OnboardingLink:
        _unsupported("onboarding_link")

    async def find_transfer(self, payout_id: str) -> TransferResult | None:
        _unsupported("find_transfer")

    async def find_payout(self, payout_id: str) -> PayoutResult | None:
        _unsupported("find_payout")

    async def list_transactions(
        self, created_from: datetime, created_before: datetime
    ) -> list[ProviderTransaction]:
        _unsupported("list_transactions")

    # Webhooks.

    # Disputes (the Disputes API: a case names the disputed capture, not the order).

    async def retrieve_dispute(self, reference: str) -> ProviderDispute:
        return _dispute(await self._http.get("retrieve_dispute", _dispute_path(reference)))

    async def submit_dispute_evidence(self, command: DisputeActionCommand) -> ProviderDispute:
        # PayPal takes evidence as uploaded documents (multipart ``provide-evidence``).
        _unsupported("submit_dispute_evidence")

    async def accept_dispute(self, command: DisputeActionCommand) -> ProviderDispute:
        """``accept-claim``: the case closes in the buyer's favour (PayPal refunds them)."""
        log.info("dispute %s: accept", command.provider_reference)
        url = _dispute_path(command.provider_reference, "accept-claim")
        note = {"note": "The merchant accepts the claim."}
        await self._http.post("accept_dispute", url, note, command.idempotency_key)
        return await self.retrieve_dispute(command.provider_reference)

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        return await verified_event(self._http, headers, body, self._webhook_id)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _order(self, operation: str, order_id: str) -> dict[str, Any]:
        return await self._http.get(operation, _order_path(order_id))

    async def _refund_capture(
        self,
        operation: str,
        order_id: str,
        amount: int | None,
        currency: str,
        request_id: str,
        custom_id: str | None = None,
    ) -> dict[str, Any]:
        """Refund ``amount`` (None: PayPal refunds what is left) of the order's capture."""
        capture = _last(await self._order(operation, order_id), "captures")
        body: dict[str, Any] = {}
        if amount is not None:
            body["amount"] = paypal_amount(amount, currency)
        if custom_id is not None:
            body["custom_id"] = custom_id
        url = url_path("v2", "payments", "captures", capture["id"], "refund")
        return await self._http.post(operation, url, body, request_id)


def _dispute_path(dispute_id: str, *action: str) -> str:
    return url_path("v1", "customer", "disputes", dispute_id, *action)


# A resolved case, by its outcome, in Stripe's words (the merchant's side of it).
_OUTCOMES = {
    "RESOLVED_SELLER_FAVOUR": DisputeStatus.WON,
    "CANCELED_BY_BUYER": DisputeStatus.WON,
    "DENIED": DisputeStatus.WON,
}
_OPEN = {
    "OPEN": DisputeStatus.NEEDS_RESPONSE,
    "WAITING_FOR_SELLER_RESPONSE": DisputeStatus.NEEDS_RESPONSE,
    "WAITING_FOR_BUYER_RESPONSE": DisputeStatus.UNDER_REVIEW,
    "UNDER_REVIEW": DisputeStatus.UNDER_REVIEW,
}


def _dispute(data: dict[str, Any]) -> ProviderDispute:
    """A PayPal case: no balance movements are listed with it (its money is not booked)."""
    disputed = (data.get("disputed_transactions") or [{}])[0]
    amount = data.get("dispute_amount") or disputed.get("gross_amount") or {}
    if data.get("status") == "RESOLVED":
        outcome = (data.get("dispute_outcome") or {}).get("outcome_code")
        status = _OUTCOMES.get(outcome or "", DisputeStatus.LOST)
    else:
        status = _OPEN.get(data.get("status") or "", DisputeStatus.NEEDS_RESPONSE)
    due = data.get("seller_response_due_date")
    return ProviderDispute(
        reference=data["dispute_id"],
        charge_reference=disputed.get("seller_transaction_id"),
        amount=minor_units(amount),
        currency=amount.get("currency_code", ""),
        reason=data.get("reason"),
        status=status,
        evidence_due_by=datetime.fromisoformat(due) if isinstance(due, str) else None,
    )


def _unsupported(operation: str) -> NoReturn:
    raise invalid_request(f"paypal {operation}: not supported by the PayPal adapter")


def _payments(order: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    unit = (order.get("purchase_units") or [{}])[0]
    return unit.get("payments") or {}


def _last(order: dict[str, Any], kind: str) -> dict[str, Any]:
    """The order's newest authorization or capture (one per order with ``final_capture``)."""
    found = _payments(order).get(kind) or []
    if not found:
        raise invalid_request(f"paypal order {order.get('id')} has no {kind[:-1]}")
    return found[-1]


def _raise_if_refused(payment: dict[str, Any], operation: str) -> None:
    """A capture or authorization PayPal created but refused is a decline (HTTP 201)."""
    status = str(payment.get("status"))
    if status in ("DECLINED", "DENIED", "FAILED"):
        reason = str((payment.get("status_details") or {}).get("reason") or status)
        raise declined(f"paypal {operation} {payment.get('id')}: {status}", status, reason)


def _sum(payments: list[dict[str, Any]], statuses: set[str]) -> int:
    return sum(minor_units(p.get("amount")) for p in payments if p.get("status") in statuses)


def _fee(captures: list[dict[str, Any]]) -> int:
    return sum(
        minor_units((c.get("seller_receivable_breakdown") or {}).get("paypal_fee"))
        for c in captures
        if c.get("status") in _CAPTURED
    )


def _approve_link(order: dict[str, Any]) -> str | None:
    links = {link.get("rel"): link.get("href") for link in order.get("links") or []}
    return links.get("payer-action") or links.get("approve")


def _charge(order: dict[str, Any]) -> ChargeResult:
    """The ``ChargeResult`` of an order, from its status and its purchase unit's payments."""
    unit = (order.get("purchase_units") or [{}])[0]
    payments = _payments(order)
    authorizations = payments.get("authorizations") or []
    captures = payments.get("captures") or []
    captured = _sum(captures, _CAPTURED)
    refunded = _sum(payments.get("refunds") or [], _REFUNDED)
    authorized = _sum(authorizations, _HELD | {"VOIDED"}) or captured
    result = {
        "reference": order["id"],
        "amount": minor_units(unit.get("amount")),
        "currency": (unit.get("amount") or {}).get("currency_code"),
        "authorized_amount": authorized,
        "captured_amount": captured,
        "refunded_amount": refunded,
        "fee": _fee(captures),
    }
    if order.get("status") == "VOIDED":
        return ChargeResult(status="voided", **result)
    if order.get("status") != "COMPLETED":  # CREATED, PAYER_ACTION_REQUIRED, APPROVED
        return ChargeResult(
            status="requires_action", next_action_url=_approve_link(order), **result
        )
    if captured:
        return ChargeResult(status="refunded" if refunded >= captured else "captured", **result)
    for payment in [*captures, *authorizations][::-1]:
        _raise_if_refused(payment, "order " + str(order["id"]))
    if any(a.get("status") in _HELD for a in authorizations):
        return ChargeResult(status="authorized", **result)
    if any(a.get("status") == "VOIDED" for a in authorizations):
        return ChargeResult(status="voided", **result)
    raise invalid_request(f"paypal order {order['id']}: completed without a payment")
