"""Payouts (``pout_…``): a connected account's balance paid out to its bank account.

``bank_account`` must be a ``ba_`` token (400 ``invalid_bank_account`` otherwise, the value
never echoed nor logged). The destination's available balance in the currency must hold the
amount (402 ``balance_insufficient``, ``balance``). Then the bank decides (``tokens``):
``ba_payoutFails`` ends ``failed`` (``account_closed``), stored and answered 200 like a real
processor's failed payout, moving nothing; any other token ends ``paid`` and writes a ``payout``
balance transaction of the destination's balance (``account`` = the destination).

An account the gateway made must have onboarded (``accounts``: 400 ``payouts_not_allowed``);
an instant payout needs a bank account that takes them (``tokens``: 400
``instant_payouts_unsupported``). A standard payout arrives two days after it is made, an
instant one at once (``arrival_date``).
"""

import logging
from datetime import datetime
from datetime import timedelta
from typing import Any

from workers.sandbox_gateway import accounts
from workers.sandbox_gateway import balance
from workers.sandbox_gateway import ledger
from workers.sandbox_gateway import lists
from workers.sandbox_gateway import tokens
from workers.sandbox_gateway.bodies import CreatePayout
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.rows import Payout
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx

log = logging.getLogger("sandbox_gateway")

PAID, FAILED = "paid", "failed"
STANDARD_ARRIVAL = timedelta(days=2)


def render(payout: Payout) -> dict[str, Any]:
    return {
        "id": payout.id,
        "object": "payout",
        "amount": payout.amount,
        "currency": payout.currency,
        "destination": payout.destination,
        "bank_account": payout.bank_account,
        "reference": payout.reference,
        "status": payout.status,
        "failure_code": payout.failure_code,
        "failure_message": payout.failure_message,
        "created": payout.created,
        "method": payout.method,
        "arrival_date": _arrival(payout).isoformat(),
    }


def _arrival(payout: Payout) -> datetime:
    made = datetime.fromisoformat(payout.created)
    return made if payout.method == "instant" else made + STANDARD_ARRIVAL


def create(tx: Tx, body: CreatePayout) -> Answer:
    if not tokens.looks_like_bank_account(body.bank_account):
        raise invalid_request("invalid_bank_account", "bank_account must be a ba_ token")
    accounts.require_payouts(tx, body.destination)
    if body.method == "instant" and not tokens.takes_instant_payouts(body.bank_account):
        raise invalid_request(
            "instant_payouts_unsupported",
            "This bank account is not eligible for Instant Payouts. Try a standard payout.",
        )
    balance.require(tx, body.amount, body.currency, account=body.destination)
    payout = Payout(id=new_id("pout"), status=PAID, **body.model_dump())
    refusal = tokens.FAILING_BANK_ACCOUNTS.get(body.bank_account)
    if refusal is not None:
        payout.status, payout.failure_code = FAILED, refusal.code
        payout.failure_message = refusal.message
    else:
        ledger.record(tx, "payout", payout, -payout.amount, account=payout.destination)
    tx.insert(payout)
    log.info(
        "payout %s for %s from %s: %s",
        payout.id,
        payout.reference,
        payout.destination,
        payout.status,
    )
    return Answer(200, render(payout), None)


def get(tx: Tx, payout_id: str) -> dict[str, Any]:
    payout = tx.get(Payout, payout_id)
    if payout is None:
        raise resource_missing(payout_id, "payout")
    return render(payout)


def find(tx: Tx, reference: str | None, limit: int) -> dict[str, Any]:
    """Payouts by merchant reference (our payout id), newest first."""
    return lists.matching(tx, Payout, render, limit, reference=reference)
