"""Refunds (``rf_…``): part or all of a captured charge given back, as objects of their own.

``POST /v1/refunds`` answers the refund; the older ``POST /v1/charges/{id}/refund`` (a saga
compensation uses it) answers the charge. Both store a refund row, move the charge's
``amount_refunded`` (``captured`` → ``refunded`` once all of it is back) and write a ``refund``
balance transaction, in one store transaction.

A refund of a ``tok_refundFails`` charge ends ``failed`` (``expired_or_canceled_card``): it is
stored and answered 200 like a real processor's failed refund, but nothing is refunded and no
balance moves. Through the older route, which can only answer a charge, it is a 402
``card_error`` naming the refund. A refund over the refundable rest is 400
``amount_too_large`` and changes nothing.
"""

import logging
from typing import Any

from workers.sandbox_gateway import charges
from workers.sandbox_gateway import ledger
from workers.sandbox_gateway import lists
from workers.sandbox_gateway import tokens
from workers.sandbox_gateway.bodies import AmountBody
from workers.sandbox_gateway.bodies import CreateRefund
from workers.sandbox_gateway.bodies import amount_within
from workers.sandbox_gateway.errors import charge_state
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.rows import Charge
from workers.sandbox_gateway.rows import Refund
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx

log = logging.getLogger("sandbox_gateway")

SUCCEEDED, FAILED = "succeeded", "failed"


def render(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "object": "refund",
        "charge": refund.charge_id,
        "amount": refund.amount,
        "currency": refund.currency,
        "status": refund.status,
        "reference": refund.reference,
        "failure_code": refund.failure_code,
        "failure_message": refund.failure_message,
        "created": refund.created,
    }


def create(tx: Tx, body: CreateRefund) -> Answer:
    charge, refund = _refund(tx, body.charge, body.amount, body.reference)
    return Answer(200, render(refund), charge.id)


def refund_charge(tx: Tx, charge_id: str, body: AmountBody) -> Answer:
    """The older route: the answer is the charge (or a 402 if the refund failed)."""
    charge, refund = _refund(tx, charge_id, body.amount, None)
    if refund.status == FAILED:
        error = {
            "type": "card_error",
            "code": refund.failure_code,
            "message": refund.failure_message,
            "charge": charge.id,
            "refund": refund.id,
        }
        return Answer(402, {"error": error}, charge.id)
    return Answer(200, charges.render(charge), charge.id)


def _refund(
    tx: Tx, charge_id: str, amount: int | None, reference: str | None
) -> tuple[Charge, Refund]:
    charge = charges.existing(tx, charge_id)
    if charge.status != charges.CAPTURED:
        raise charge_state(charge_id, charge.status, "refunded")
    amount = amount_within(
        amount,
        charge.amount_captured - charge.amount_refunded,
        "refund of {amount} exceeds the refundable {most}",
    )
    refund = Refund(
        id=new_id("rf"),
        charge_id=charge.id,
        amount=amount,
        currency=charge.currency,
        status=SUCCEEDED,
        reference=reference,
    )
    if tokens.refund_fails(charge.payment_method):
        failure = tokens.REFUND_FAILED
        refund.status, refund.failure_code = FAILED, failure.code
        refund.failure_message = failure.message
    else:
        charge.amount_refunded += amount
        if charge.amount_refunded == charge.amount_captured:
            charge.status = charges.REFUNDED
        tx.update(charge)
        ledger.record(tx, "refund", refund, -amount, payment_id=charge.reference)
    tx.insert(refund)
    log.info("refund %s of %s (%s): %s", refund.id, charge.id, reference, refund.status)
    return charge, refund


def get(tx: Tx, refund_id: str) -> dict[str, Any]:
    refund = tx.get(Refund, refund_id)
    if refund is None:
        raise resource_missing(refund_id, "refund")
    return render(refund)


def find(tx: Tx, reference: str | None, charge_id: str | None, limit: int) -> dict[str, Any]:
    """Refunds by merchant reference and/or charge, newest first."""
    return lists.matching(tx, Refund, render, limit, reference=reference, charge_id=charge_id)
