"""Balance transactions (``txn_…``): one row per movement of money, for reconciliation.

The operation that moves the money writes its row in the same store transaction:

=================  =========================  ===========  ================================
type               amount (signed)            source       reference / payment_id
=================  =========================  ===========  ================================
charge             + captured, ``fee`` apart  charge id    the charge's / the same
refund             - refunded                 refund id    the refund's / the charge's
transfer           - transferred              transfer id  the transfer's (our payout id)
transfer_reversal  + reversed                 reversal id  the reversal's or transfer's
payout             - paid out                 payout id    the payout's (our payout id)
=================  =========================  ===========  ================================

Payouts move the destination's (connected account's) balance, not the platform's: their rows
carry ``account`` = the destination, every other row ``account`` = None (the platform). That
is fine for reconciliation, which matches each movement with ours, whichever balance it hit.
Declined charges, failed refunds and failed payouts move nothing and have no row.

Listed oldest first by ``seq`` (the insertion order, which is also ``created`` order since one
lock serializes every write), ``starting_after`` being the last id of the previous page.
"""

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from workers.sandbox_gateway import lists
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.rows import BalanceTransaction
from workers.sandbox_gateway.rows import Charge
from workers.sandbox_gateway.rows import Payout
from workers.sandbox_gateway.rows import Refund
from workers.sandbox_gateway.rows import Transfer
from workers.sandbox_gateway.rows import TransferReversal
from workers.sandbox_gateway.rows import new_id
from workers.sandbox_gateway.store import Tx


def record(
    tx: Tx,
    type_: str,
    source: Charge | Refund | Transfer | TransferReversal | Payout,
    amount: int,
    *,
    reference: str | None = None,
    payment_id: str | None = None,
    fee: int = 0,
    account: str | None = None,
) -> BalanceTransaction:
    """The row of ``source``'s movement of ``amount`` (signed), in its currency and under its
    reference unless ``reference`` is given."""
    txn = BalanceTransaction(
        id=new_id("txn"),
        type=type_,
        amount=amount,
        fee=fee,
        currency=source.currency,
        source=source.id,
        reference=source.reference if reference is None else reference,
        payment_id=payment_id,
        account=account,
    )
    tx.insert(txn)
    return txn


def render(txn: BalanceTransaction) -> dict[str, Any]:
    return {
        "id": txn.id,
        "object": "balance_transaction",
        "type": txn.type,
        "amount": txn.amount,
        "fee": txn.fee,
        "net": txn.amount - txn.fee,
        "currency": txn.currency,
        "source": txn.source,
        "reference": txn.reference,
        "payment_id": txn.payment_id,
        "account": txn.account,
        "created": txn.created,
    }


def page(
    tx: Tx,
    *,
    created_gte: datetime | None,
    created_lt: datetime | None,
    limit: int,
    starting_after: str | None,
) -> dict[str, Any]:
    """Oldest first; ``has_more`` tells whether another page follows this one."""
    where, params = ["1"], []
    if starting_after is not None:
        seq = tx.scalar("SELECT seq FROM balance_transactions WHERE id = ?", (starting_after,))
        if seq is None:
            raise invalid_request(
                "resource_missing", f"starting_after: no such balance transaction: {starting_after}"
            )
        where.append("seq > ?")
        params.append(seq)
    if created_gte is not None:
        where.append("created >= ?")
        params.append(_stored_form("created_gte", created_gte))
    if created_lt is not None:
        where.append("created < ?")
        params.append(_stored_form("created_lt", created_lt))
    rows = tx.select(BalanceTransaction, " AND ".join(where), params, order="seq", limit=limit + 1)
    return lists.answer(rows, limit, render)


def _stored_form(name: str, moment: datetime) -> str:
    """``moment`` as ``created`` is stored (UTC, milliseconds), rounded *up* to the next
    millisecond: stored times are whole milliseconds, so ``created >= t`` and ``created < t``
    keep their meaning exactly."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise invalid_request("parameter_invalid", f"{name} needs a time zone (e.g. Z)")
    moment = moment.astimezone(UTC)
    if moment.microsecond % 1000:
        moment += timedelta(microseconds=1000 - moment.microsecond % 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
