"""Real outcomes as training labels for the risk model (its feedback loop).

A payment at a provider that moves money becomes a label when the read model learns how it
really turned out (a sandbox payment never does: nothing there is fraud or legit, and anyone
can make one look like either):

- a platform operator's review verdict (``channel`` "temporal": the Temporal UI/CLI, which
  only the platform's operators reach; "operator": the admin API, on the admin credentials):
  ``reject`` → fraud (source ``review_rejected``),
  ``approve`` → not fraud (``review_approved``). A tenant's verdict (``channel`` "api") is no
  label: the model is shared by every tenant and weighs a verdict heavily, so one tenant
  judging its own payments must not teach it. A verdict the clock took
  (``channel`` "timeout") says nothing about the payment and is no label either;
- a dispute → fraud (``dispute``).

``record_labels`` runs in the transaction that writes the payment's read-model row, on every
path that writes one: ``schemas.store.read_model.upsert_payment`` (the saga's states,
including a dispute signalled to a running saga) and
``schemas.store.webhook_events.record_dispute`` (a dispute on a finished payment). Labels are
inserted once per (tenant, payment, source): a state written again (retries, later steps)
changes nothing.
"""

from datetime import datetime
from functools import cache

from sqlalchemy import Connection
from sqlalchemy import Insert

from schemas.payments import PaymentState
from schemas.store.database import dialect_insert
from schemas.store.tables import RiskLabelRecord

REVIEW_REJECTED = "review_rejected"
REVIEW_APPROVED = "review_approved"
DISPUTE = "dispute"
# The review channels whose verdicts are training labels: the platform's operators'.
OPERATOR_CHANNELS = frozenset({"temporal", "operator"})
# Providers whose payments move no money: never a label.
TEST_PROVIDERS = frozenset({"sandbox"})


def labels_of(state: PaymentState) -> list[dict]:
    """The ``risk_labels`` rows this state gives (none for most states)."""
    if state.provider in TEST_PROVIDERS:
        return []
    found: list[tuple[str, bool, datetime]] = []
    review = state.review
    if review is not None and review.decision is not None and review.channel in OPERATOR_CHANNELS:
        source = REVIEW_REJECTED if review.decision == "reject" else REVIEW_APPROVED
        found.append((source, review.decision == "reject", review.decided_at or state.updated_at))
    if state.dispute is not None:
        found.append((DISPUTE, True, state.dispute.opened_at))
    if not found:
        return []
    features = state.risk.features if state.risk is not None else None
    features_json = features.model_dump_json() if features is not None else None
    return [
        {
            "tenant_id": state.tenant_id,
            "payment_id": state.payment_id,
            "source": source,
            "fraud": fraud,
            "features_json": features_json,
            "created_at": at,
        }
        for source, fraud, at in found
    ]


@cache
def _insert_or_ignore(dialect_name: str) -> Insert:
    return dialect_insert(dialect_name, RiskLabelRecord.__table__).on_conflict_do_nothing(
        index_elements=["tenant_id", "payment_id", "source"]
    )


def record_labels(connection: Connection, state: PaymentState) -> None:
    """Insert the labels of ``state`` not stored yet, in the caller's transaction."""
    rows = labels_of(state)
    if rows:
        connection.execute(_insert_or_ignore(connection.dialect.name), rows)
