"""A refund Stripe failed after it succeeded, in reconciliation: its ``refund_failure``
balance transaction (the money back in the platform's balance) undoes the refund's, as the
ledger's ``refund_reversal`` undoes its ``refund``. The late failure end to end is
``tests/providers/test_stripe_late_failures.py``."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from activities.providers.stripe.adapter import _transaction
from activities.reconciliation import _provider_movements
from activities.reconciliation_match import Movement
from activities.reconciliation_match import compare

CREATED = 1_760_000_000
REFUND = {
    "id": "re_1",
    "object": "refund",
    "amount": 700,
    "status": "failed",
    "failure_reason": "expired_or_canceled_card",
    "metadata": {"refund_id": "ref_1", "payment_id": "pay_1"},
}
REFUNDED = {
    "id": "txn_refund",
    "object": "balance_transaction",
    "amount": -700,
    "fee": 0,
    "currency": "usd",
    "type": "refund",
    "source": REFUND,
    "created": CREATED,
}
RETURNED = REFUNDED | {"id": "txn_failure", "amount": 700, "type": "refund_failure"}


def test_a_refund_failure_names_the_refund_and_its_payment():
    returned = _transaction(RETURNED)
    assert returned is not None
    assert (returned.type, returned.reference, returned.payment_id) == (
        "refund_failure",
        "ref_1",
        "pay_1",
    )
    assert (returned.amount, returned.currency) == (700, "USD")


def test_a_refund_that_failed_later_reconciles_once_reversed_in_the_ledger():
    day = datetime.fromtimestamp(CREATED, UTC).replace(hour=0, minute=0, second=0)
    at = datetime.fromtimestamp(CREATED, UTC)
    provider = _provider_movements([t for t in map(_transaction, (REFUNDED, RETURNED)) if t])
    refunded = Movement("refund", "ref_1", "USD", 700, at)
    reversed_ = Movement("refund", "ref_1", "USD", -700, at)

    totals, mismatches = compare([refunded, reversed_], provider, day, day + timedelta(days=1))

    assert mismatches == []
    [usd] = totals
    assert (usd.ledger_refunded, usd.provider_refunded) == (0, 0)
    # A ledger that kept the refund shows it.
    _, kept = compare([refunded], provider, day, day + timedelta(days=1))
    assert [(m.kind, m.id, m.ledger_amount, m.provider_amount) for m in kept] == [
        ("refund", "ref_1", 700, 0)
    ]
