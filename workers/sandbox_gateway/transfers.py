"""Transfers (Connect-style, ``tr_…``): from the platform's balance to a connected account's.

    paid ──reversal (part)──> paid, amount_reversed grows ──reversal (the rest)──> reversed

A transfer is refused (402 ``balance_insufficient``) when the platform's available balance in
its currency holds less than the amount (``balance``). A reversal (``trr_…``) takes back at
most what is not reversed yet (400 ``amount_too_large``; 409 ``transfer_state`` once all of it
is back). Transfers are - balance transactions of the platform, reversals +.
"""

import logging
from typing import Any

from workers.sandbox_gateway import balance
from workers.sandbox_gateway import ledger
from workers.sandbox_gateway import lists
from workers.sandbox_gateway.bodies import CreateTransfer
from workers.sandbox_gateway.bodies import ReverseTransfer
from workers.sandbox_gateway.bodies import amount_within
from workers.sandbox_gateway.errors import object_state
from workers.sandbox_gateway.errors import resource_missing
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.rows import Transfer
from workers.sandbox_gateway.rows import TransferReversal
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx

log = logging.getLogger("sandbox_gateway")

PAID, REVERSED = "paid", "reversed"


def render(tx: Tx, transfer: Transfer) -> dict[str, Any]:
    reversals = tx.select(TransferReversal, "transfer_id = ?", (transfer.id,), order="rowid")
    return {
        "id": transfer.id,
        "object": "transfer",
        "amount": transfer.amount,
        "currency": transfer.currency,
        "destination": transfer.destination,
        "reference": transfer.reference,
        "status": transfer.status,
        "amount_reversed": transfer.amount_reversed,
        "reversals": [
            {
                "id": r.id,
                "amount": r.amount,
                "currency": r.currency,
                "reference": r.reference,
                "created": r.created,
            }
            for r in reversals
        ],
        "created": transfer.created,
    }


def create(tx: Tx, body: CreateTransfer) -> Answer:
    balance.require(tx, body.amount, body.currency)
    transfer = Transfer(id=new_id("tr"), status=PAID, **body.model_dump())
    tx.insert(transfer)
    ledger.record(tx, "transfer", transfer, -transfer.amount)
    log.info("transfer %s for %s to %s", transfer.id, transfer.reference, transfer.destination)
    return Answer(200, render(tx, transfer), None)


def reverse(tx: Tx, transfer_id: str, body: ReverseTransfer) -> Answer:
    """Answers the transfer, its new reversal last in ``reversals``."""
    transfer = _existing(tx, transfer_id)
    left = transfer.amount - transfer.amount_reversed
    if left == 0:
        raise object_state("transfer", transfer_id, transfer.status, "reversed")
    amount = amount_within(
        body.amount, left, "reversal of {amount} exceeds the {most} not reversed yet"
    )
    reversal = TransferReversal(
        id=new_id("trr"),
        transfer_id=transfer.id,
        amount=amount,
        currency=transfer.currency,
        reference=body.reference,
    )
    tx.insert(reversal)
    transfer.amount_reversed += amount
    if transfer.amount_reversed == transfer.amount:
        transfer.status = REVERSED
    tx.update(transfer)
    ledger.record(
        tx, "transfer_reversal", reversal, amount, reference=body.reference or transfer.reference
    )
    log.info("reversal %s of %s: %s", reversal.id, transfer.id, transfer.status)
    return Answer(200, render(tx, transfer), None)


def _existing(tx: Tx, transfer_id: str) -> Transfer:
    transfer = tx.get(Transfer, transfer_id)
    if transfer is None:
        raise resource_missing(transfer_id, "transfer")
    return transfer


def get(tx: Tx, transfer_id: str) -> dict[str, Any]:
    return render(tx, _existing(tx, transfer_id))


def find(tx: Tx, reference: str | None, limit: int) -> dict[str, Any]:
    """Transfers by merchant reference (our payout id), newest first."""
    return lists.matching(tx, Transfer, lambda t: render(tx, t), limit, reference=reference)
