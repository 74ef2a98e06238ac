"""What a processor does after it answered: a refund the card issuer fails and a payout the
bank returns, days later. Test helpers drive them (``POST /v1/test_helpers/…/fail``); each
is one store transaction, and the gateway then sends the signed event (``webhooks``).

A late failure gives the money back where it came from, as a balance transaction of its
own: ``refund_failure`` (+ the refund, on the platform's balance; the charge's refunded
amount goes down again) and ``payout_failure`` (+ the payout, on the connected account's).
"""

from typing import Any

from fastapi import APIRouter
from fastapi import Request

from workers.sandbox_gateway import charges
from workers.sandbox_gateway import ledger
from workers.sandbox_gateway import payouts
from workers.sandbox_gateway import refunds
from workers.sandbox_gateway.bodies import RequestBody
from workers.sandbox_gateway.bodies import parse
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.routing import Routing
from workers.sandbox_gateway.rows import Payout
from workers.sandbox_gateway.rows import Refund
from workers.sandbox_gateway.store import Tx
from workers.sandbox_gateway.tokens import FAILING_BANK_ACCOUNTS
from workers.sandbox_gateway.tokens import REFUND_FAILED
from workers.sandbox_gateway.tokens import Decline
from workers.sandbox_gateway.webhooks import Webhooks

REFUND_FAILURES = {REFUND_FAILED.code: REFUND_FAILED} | {
    "lost_or_stolen_card": Decline(
        "lost_or_stolen_card", "The card was lost or stolen; the refund could not be sent."
    ),
}
PAYOUT_FAILURES = {decline.code: decline for decline in FAILING_BANK_ACCOUNTS.values()} | {
    "no_account": Decline("no_account", "The bank account could not be located."),
}


class LateFailure(RequestBody):
    failure_code: str | None = None


def fail_refund(tx: Tx, refund_id: str, body: LateFailure) -> dict[str, Any]:
    refund = tx.get(Refund, refund_id)
    if refund is None:
        raise resource_missing(refund_id, "refund")
    if refund.status != refunds.SUCCEEDED:
        raise invalid_request("refund_not_succeeded", f"refund {refund_id} is {refund.status}")
    failure = _failure(REFUND_FAILURES, body.failure_code or REFUND_FAILED.code)
    refund.status, refund.failure_code = refunds.FAILED, failure.code
    refund.failure_message = failure.message
    tx.update(refund)
    charge = charges.existing(tx, refund.charge_id)
    charge.amount_refunded -= refund.amount
    if charge.status == charges.REFUNDED:
        charge.status = charges.CAPTURED
    tx.update(charge)
    ledger.record(tx, "refund_failure", refund, refund.amount, payment_id=charge.reference)
    return refunds.render(refund)


def fail_payout(tx: Tx, payout_id: str, body: LateFailure) -> dict[str, Any]:
    payout = tx.get(Payout, payout_id)
    if payout is None:
        raise resource_missing(payout_id, "payout")
    if payout.status != payouts.PAID:
        raise invalid_request("payout_not_paid", f"payout {payout_id} is {payout.status}")
    failure = _failure(PAYOUT_FAILURES, body.failure_code or "account_closed")
    payout.status, payout.failure_code = payouts.FAILED, failure.code
    payout.failure_message = failure.message
    tx.update(payout)
    ledger.record(tx, "payout_failure", payout, payout.amount, account=payout.destination)
    return payouts.render(payout)


def _failure(known: dict[str, Decline], code: str) -> Decline:
    if code not in known:
        raise invalid_request("invalid_failure_code", f"failure_code must be one of {list(known)}")
    return known[code]


def router(routing: Routing, webhooks: Webhooks | None) -> APIRouter:
    """The test helpers: ``POST /v1/test_helpers/refunds/{id}/fail`` and
    ``…/payouts/{id}/fail`` ({failure_code?}) → {object, event, delivered}; ``event`` and
    ``delivered`` (the endpoint's status code) are None when no webhook endpoint is set."""
    api = APIRouter(prefix="/v1/test_helpers")

    async def fail(request: Request, event_type: str, apply) -> dict[str, Any]:
        body = await parse(request, LateFailure)
        obj = await routing.read(lambda tx: apply(tx, body))
        delivery = {"event": None, "delivered": None}
        if webhooks is not None:
            delivery = await webhooks.send(event_type, obj)
        return {"object": obj, **delivery}

    @api.post("/refunds/{refund_id}/fail")
    async def fail_refund_late(refund_id: str, request: Request) -> dict[str, Any]:
        return await fail(request, "refund.failed", lambda tx, b: fail_refund(tx, refund_id, b))

    @api.post("/payouts/{payout_id}/fail")
    async def fail_payout_late(payout_id: str, request: Request) -> dict[str, Any]:
        return await fail(request, "payout.failed", lambda tx, b: fail_payout(tx, payout_id, b))

    return api
