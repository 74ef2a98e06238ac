"""What Stripe's dispute objects mean to paysaga: their events, the dispute as read, and its
``adjustment`` balance transactions; and the journal entries and reconciliation items they
make. The end-to-end lifecycle is ``tests/providers/test_stripe_disputes.py``."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from activities.providers.stripe.adapter import _dispute
from activities.providers.stripe.adapter import _transaction
from activities.providers.stripe.events import provider_event
from activities.reconciliation import _provider_movements
from activities.reconciliation_match import Movement
from activities.reconciliation_match import compare
from schemas.disputes import DisputeStatus
from schemas.domain import journals

CREATED = 1_760_000_000
WITHDRAWAL = {
    "id": "txn_w",
    "object": "balance_transaction",
    "amount": -2000,
    "fee": 1500,
    "currency": "usd",
    "type": "adjustment",
    "reporting_category": "dispute",
    "source": "du_1",
    "created": CREATED,
}
REINSTATEMENT = WITHDRAWAL | {
    "id": "txn_r",
    "amount": 2000,
    "fee": 0,
    "reporting_category": "dispute_reversal",
    "created": CREATED + 60,
}
DISPUTE = {
    "id": "du_1",
    "object": "dispute",
    "amount": 2000,
    "currency": "usd",
    "charge": "ch_1",
    "payment_intent": "pi_1",
    "reason": "fraudulent",
    "status": "won",
    "evidence_details": {"due_by": CREATED + 86400, "submission_count": 1},
    "balance_transactions": [WITHDRAWAL, REINSTATEMENT],
}


@pytest.mark.parametrize(
    "event_type",
    [
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.updated",
    ],
)
def test_dispute_events_name_the_dispute_and_its_payment(event_type):
    event = {"id": "evt_1", "type": event_type, "created": CREATED, "data": {"object": DISPUTE}}
    mapped = provider_event(event)
    assert (mapped.kind, mapped.dispute_reference, mapped.object_reference) == (
        "dispute_updated",
        "du_1",
        "pi_1",
    )


def test_a_dispute_is_read_with_the_money_it_moved():
    dispute = _dispute(DISPUTE)
    assert (dispute.reference, dispute.charge_reference, dispute.status) == (
        "du_1",
        "pi_1",
        DisputeStatus.WON,
    )
    assert (dispute.amount, dispute.currency, dispute.evidence_submissions) == (2000, "USD", 1)
    assert dispute.evidence_due_by == datetime.fromtimestamp(CREATED + 86400, UTC)
    assert [(f.amount, f.fee) for f in dispute.funds] == [(-2000, 1500), (2000, 0)]


def test_dispute_adjustments_are_listed_by_their_dispute_and_others_left_out():
    expanded = WITHDRAWAL | {"source": DISPUTE}
    listed = _transaction(expanded)
    assert listed is not None
    assert (listed.type, listed.amount, listed.fee, listed.reference) == (
        "dispute",
        -2000,
        1500,
        "du_1",
    )
    other_adjustment = WITHDRAWAL | {"source": {"id": "ia_1", "object": "issuing.authorization"}}
    assert _transaction(other_adjustment) is None


def test_withdrawal_and_reinstatement_entries_each_have_their_step():
    withdrawn = journals.dispute_funds("dsp_1", "stripe", "USD", -2000, 1500)
    reinstated = journals.dispute_funds("dsp_1", "stripe", "USD", 2000, 0)
    fee_back = journals.dispute_funds("dsp_1", "stripe", "USD", 0, -1500)

    assert [(e.idempotency_key, e.kind) for e in withdrawn + reinstated + fee_back] == [
        ("dsp_1:withdrawal", "dispute_withdrawal"),
        ("dsp_1:fee", "dispute_fee"),
        ("dsp_1:reinstatement", "dispute_reinstatement"),
        ("dsp_1:fee_return", "dispute_fee_return"),
    ]
    merchant = [
        line.amount
        for entry in withdrawn + reinstated
        for line in entry.lines
        if line.account == "merchant_balance"
    ]
    assert merchant == [2000, 1500, -2000]  # down by amount and fee, up by the amount
    for entry in withdrawn + reinstated + fee_back:
        assert sum(line.amount for line in entry.lines) == 0


def test_a_withdrawn_then_won_dispute_reconciles():
    day = datetime.fromtimestamp(CREATED, UTC).replace(hour=0, minute=0, second=0)
    provider = _provider_movements(
        [
            t.model_copy(update={"reference": "dsp_1"})
            for t in (
                _transaction(WITHDRAWAL | {"source": DISPUTE}),
                _transaction(REINSTATEMENT | {"source": DISPUTE}),
            )
            if t is not None
        ]
    )
    at = datetime.fromtimestamp(CREATED, UTC)
    ledger = [
        Movement("dispute", "dsp_1", "USD", 2000, at),
        Movement("dispute_fee", "dsp_1", "USD", 1500, at),
        Movement("dispute", "dsp_1", "USD", -2000, at),
    ]

    totals, mismatches = compare(ledger, provider, day, day + timedelta(days=1))

    assert mismatches == []
    [usd] = totals
    assert (usd.ledger_disputed, usd.provider_disputed) == (0, 0)
    assert (usd.ledger_dispute_fees, usd.provider_dispute_fees) == (1500, 1500)
    # Booked without its reinstatement, the dispute shows.
    _, short = compare(ledger[:2], provider, day, day + timedelta(days=1))
    assert [(m.kind, m.id, m.ledger_amount, m.provider_amount) for m in short] == [
        ("dispute", "dsp_1", 2000, 0)
    ]
