"""The charge state machine: each operation runs inside one store transaction.

    requires_action ──confirm──> authorized ──capture──> captured ──refund (the rest)──> refunded
          │  └──confirm (failed)──> declined      │         ↺ refund (part)
          └────────────void────────────> voided <─┘

A charge created with ``three_d_secure`` starts in ``requires_action`` whatever its token
(unless the token declines). Off-session (a saved method, ``customers``) nothing is ever
challenged: a card that needs 3-D Secure is declined ``authentication_required``, and the
merchant's ``three_d_secure`` cannot be honoured. A charge refused at creation is stored as
``declined`` so a replay answers the same 402.
Becoming ``captured`` (authorize-and-capture, a confirmation with capture, or a capture) sets
``fee`` (``fee_for``) and writes the ``charge`` balance transaction (``ledger``). Refunds are
objects of their own (``refunds``).
"""

import json
import logging
from typing import Any

from workers.sandbox_gateway import customers
from workers.sandbox_gateway import ledger
from workers.sandbox_gateway import lists
from workers.sandbox_gateway import tokens
from workers.sandbox_gateway.bodies import AmountBody
from workers.sandbox_gateway.bodies import CreateCharge
from workers.sandbox_gateway.bodies import amount_within
from workers.sandbox_gateway.errors import charge_state
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.rows import Charge
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx

log = logging.getLogger("sandbox_gateway")

AUTHORIZED, CAPTURED, DECLINED = "authorized", "captured", "declined"
REQUIRES_ACTION, VOIDED, REFUNDED = "requires_action", "voided", "refunded"

# Pricing: 2.9 % of the captured amount, rounded half up, plus 30 minor units.
FEE_PER_MILLE, FEE_FIXED = 29, 30


def fee_for(captured: int) -> int:
    """The gateway's fee on a capture, in integers only (1999 → 58 + 30 = 88)."""
    return (captured * FEE_PER_MILLE + 500) // 1000 + FEE_FIXED


def render(charge: Charge) -> dict[str, Any]:
    next_action = None
    if charge.status == REQUIRES_ACTION:
        next_action = {"type": "redirect_to_url", "url": charge.next_action_url}
    return {
        "id": charge.id,
        "object": "charge",
        "status": charge.status,
        "amount": charge.amount,
        "currency": charge.currency,
        "reference": charge.reference,
        "customer_id": charge.customer_id,
        "customer": charge.customer,
        "payment_method": charge.saved_method,
        "off_session": charge.off_session,
        "amount_authorized": charge.amount_authorized,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "fee": charge.fee,
        "next_action": next_action,
        "capture_error": json.loads(charge.capture_error) if charge.capture_error else None,
        "failure": json.loads(charge.failure) if charge.failure else None,
        "created": charge.created,
    }


def _refusal(charge: Charge, decline: tokens.Decline) -> Answer:
    return Answer(402, decline.error(charge=charge.id), charge.id)


def _failure_json(decline: tokens.Decline) -> str:
    return json.dumps(
        {"code": decline.code, "decline_code": decline.decline_code, "message": decline.message}
    )


def existing(tx: Tx, charge_id: str) -> Charge:
    """The charge, or 404 ``resource_missing``."""
    charge = tx.get(Charge, charge_id)
    if charge is None:
        raise resource_missing(charge_id)
    return charge


def _applied(tx: Tx, charge: Charge, what: str) -> Answer:
    tx.update(charge)
    log.info("%s %s: %s", what, charge.id, charge.status)
    return Answer(200, render(charge), charge.id)


def create(tx: Tx, body: CreateCharge, public_url: str) -> Answer:
    tokens.check_shape(body.payment_method)
    used = customers.charged_token(tx, body.payment_method, body.customer, body.off_session)
    token = tokens.known(used)
    charge_id = new_id("ch")
    charge = Charge(
        id=charge_id,
        status=AUTHORIZED,
        amount=body.amount,
        currency=body.currency,
        reference=body.reference,
        customer_id=body.customer_id,
        payment_method=used,
        capture_requested=body.capture,
        customer=body.customer,
        saved_method=None if used == body.payment_method else body.payment_method,
        off_session=body.off_session,
    )
    answer = None
    decline = token.decline if token.behaviour is tokens.Behaviour.DECLINE else None
    if body.off_session and token.behaviour is tokens.Behaviour.REQUIRE_ACTION:
        # Nobody is there to answer a challenge: declined at once, never requires_action.
        decline = tokens.AUTHENTICATION_REQUIRED
    if decline is not None:
        charge.status, charge.failure = DECLINED, _failure_json(decline)
        answer = _refusal(charge, decline)
    elif token.behaviour is tokens.Behaviour.REQUIRE_ACTION or (
        body.three_d_secure and not body.off_session
    ):
        charge.status, charge.challenge = REQUIRES_ACTION, "pending"
        charge.next_action_url = f"{public_url}/v1/charges/{charge_id}/3ds"
    else:
        _authorize(tx, charge)
    tx.insert(charge)
    log.info(
        "charge %s for %s: %s (%s)",
        charge_id,
        body.reference,
        charge.status,
        tokens.masked(used),
    )
    return answer or Answer(200, render(charge), charge_id)


def _authorize(tx: Tx, charge: Charge) -> None:
    """Place the hold, and capture it at once when the charge asked for it."""
    charge.status, charge.amount_authorized = AUTHORIZED, charge.amount
    if not charge.capture_requested:
        return
    if _capture_refused(charge):
        charge.capture_error = _failure_json(tokens.CAPTURE_FAILED)
        return
    _capture(tx, charge, charge.amount)


def _capture(tx: Tx, charge: Charge, amount: int) -> None:
    """``captured``: the fee is taken and the money enters the platform's balance."""
    charge.status, charge.amount_captured, charge.capture_error = CAPTURED, amount, None
    charge.fee = fee_for(amount)
    ledger.record(tx, "charge", charge, amount, fee=charge.fee, payment_id=charge.reference)


def _capture_refused(charge: Charge) -> bool:
    token = tokens.lookup(charge.payment_method)
    return token is not None and token.behaviour is tokens.Behaviour.CAPTURE_FAILS


def capture(tx: Tx, charge_id: str, body: AmountBody) -> Answer:
    charge = existing(tx, charge_id)
    if charge.status != AUTHORIZED:
        raise charge_state(charge_id, charge.status, "captured")
    amount = amount_within(
        body.amount, charge.amount_authorized, "capture of {amount} exceeds the authorized {most}"
    )
    if _capture_refused(charge):
        charge.capture_error = _failure_json(tokens.CAPTURE_FAILED)
        tx.update(charge)
        return _refusal(charge, tokens.CAPTURE_FAILED)
    _capture(tx, charge, amount)
    return _applied(tx, charge, "capture")


def void(tx: Tx, charge_id: str) -> Answer:
    charge = existing(tx, charge_id)
    if charge.status not in (AUTHORIZED, REQUIRES_ACTION):
        raise charge_state(charge_id, charge.status, "voided")
    charge.status = VOIDED
    return _applied(tx, charge, "void")


def complete_challenge(tx: Tx, charge_id: str, outcome: str) -> dict[str, Any]:
    """The customer's answer to 3-D Secure (not the merchant's: no idempotency key)."""
    charge = existing(tx, charge_id)
    result = "succeeded" if outcome == "succeed" else "failed"
    if charge.status != REQUIRES_ACTION or charge.challenge not in ("pending", result):
        raise charge_state(charge_id, charge.status, f"authenticated ({result})")
    charge.challenge = result
    tx.update(charge)
    return render(charge)


def confirm(tx: Tx, charge_id: str) -> Answer:
    charge = existing(tx, charge_id)
    if charge.status != REQUIRES_ACTION:
        raise charge_state(charge_id, charge.status, "confirmed")
    if charge.challenge == "pending":
        return Answer(200, render(charge), charge_id, applied=False)  # keep waiting
    if charge.challenge == "failed":
        charge.status = DECLINED
        charge.failure = _failure_json(tokens.AUTHENTICATION_FAILED)
        tx.update(charge)
        return _refusal(charge, tokens.AUTHENTICATION_FAILED)
    _authorize(tx, charge)
    return _applied(tx, charge, "confirm")


def get(tx: Tx, charge_id: str) -> dict[str, Any]:
    return render(existing(tx, charge_id))


def find(tx: Tx, reference: str | None, limit: int) -> dict[str, Any]:
    """The charges of a merchant reference (our payment id), newest first."""
    return lists.matching(tx, Charge, render, limit, reference=reference)
