"""Provider webhooks in SQL: each event stored once, bad signatures counted, and what a
closed payment learns from its provider (a dispute) written to its read model.

The API cannot signal a saga that has finished, so an event about a closed payment lands in
the read model here instead; a running saga gets the signal (api/routes/webhooks.py).
"""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy import Insert
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from sqlmodel import select

from schemas.payments import DisputeRecord
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.payouts import PayoutState
from schemas.provider_events import ProviderEvent
from schemas.settlements import SettlementInput
from schemas.store.database import dialect_insert
from schemas.store.risk_labels import record_labels
from schemas.store.tables import DisputeRecord as DisputeRow
from schemas.store.tables import PaymentRecord
from schemas.store.tables import PayoutRecord
from schemas.store.tables import RefundRecord
from schemas.store.tables import WebhookEventRecord
from schemas.store.tables import WebhookRejectionRecord

RECEIVED = "received"  # stored, not yet handed on: a redelivery tries again


def store_event(engine: Engine, event: ProviderEvent) -> bool:
    """True for a new event (or one whose earlier delivery did not finish); False for a
    duplicate that was already handled."""
    row = WebhookEventRecord(
        provider=event.provider,
        event_id=event.event_id,
        event_type=event.event_type,
        kind=event.kind,
        object_reference=event.object_reference,
        tenant_id=event.tenant_id,
        payment_id=event.payment_id,
        outcome=RECEIVED,
        event_json=event.model_dump_json(),
        received_at=datetime.now(UTC),
    )
    try:
        with Session(engine) as session, session.begin():
            session.add(row)
        return True
    except IntegrityError:
        with Session(engine) as session:
            stored = session.exec(_event(event)).one()
        return stored.outcome == RECEIVED


def finish_event(engine: Engine, event: ProviderEvent, outcome: str) -> None:
    with Session(engine) as session, session.begin():
        stored = session.exec(_event(event)).one()
        stored.outcome = outcome


def count_rejection(engine: Engine, provider: str) -> None:
    """One more refused request for ``provider``, whichever worker or API process saw it."""
    with engine.begin() as connection:
        statement = _upsert_counter(connection.dialect.name)
        connection.execute(
            statement, {"provider": provider, "rejected": 1, "last_rejected_at": datetime.now(UTC)}
        )


class TargetMismatch(Exception):
    """A verified event whose ids (metadata the object's creator chose) name another payment,
    refund or payout than our records hold for the provider object it is about."""

    def __init__(self, claimed: tuple[str | None, str | None], recorded: tuple[str, str]):
        super().__init__(f"the event names {claimed}, our records {recorded}")
        self.claimed = claimed
        self.recorded = recorded


def find_payment(engine: Engine, event: ProviderEvent) -> tuple[str, str] | None:
    """(tenant, payment id) of the event, from our records: the payment whose provider object
    (PaymentIntent, order) the event is about. Metadata can be set by whoever created the
    object, so it only has to agree (``TargetMismatch`` otherwise) and never finds a payment
    by itself, except for an event that names no payment object at all (a PayPal dispute
    names the dispute; its disputed transaction echoes our invoice id, unique per PayPal
    account): then the claimed payment must exist, be the tenant's and have been made at
    that provider, and a dispute we already know must be that payment's."""
    with Session(engine) as session:
        if event.object_reference and event.object_reference != event.dispute_reference:
            record = session.exec(
                select(PaymentRecord).where(
                    PaymentRecord.provider == event.provider,
                    PaymentRecord.provider_reference == event.object_reference,
                )
            ).first()
            if record is None:
                return None
            _agrees(event.tenant_id, event.payment_id, record.tenant_id, record.payment_id)
            return record.tenant_id, record.payment_id
        if not (event.dispute_reference and event.tenant_id and event.payment_id):
            return None
        known = session.exec(
            select(DisputeRow).where(
                DisputeRow.provider == event.provider,
                DisputeRow.provider_reference == event.dispute_reference,
            )
        ).first()
        if known is not None:
            _agrees(event.tenant_id, event.payment_id, known.tenant_id, known.payment_id)
        record = session.exec(
            select(PaymentRecord).where(
                PaymentRecord.tenant_id == event.tenant_id,
                PaymentRecord.payment_id == event.payment_id,
                PaymentRecord.provider == event.provider,
            )
        ).first()
    return (record.tenant_id, record.payment_id) if record else None


def _agrees(
    claimed_tenant: str | None, claimed_id: str | None, tenant: str, record_id: str
) -> None:
    """Ids an event carries, if any, are those of the record its provider object is."""
    if (claimed_tenant or tenant, claimed_id or record_id) != (tenant, record_id):
        raise TargetMismatch((claimed_tenant, claimed_id), (tenant, record_id))


def find_settlement_subject(engine: Engine, event: ProviderEvent) -> SettlementInput | None:
    """The refund or payout a late refund or payout event is about, made through the
    event's provider: the refund whose provider id the event names, else the one our id (the
    provider's echo) names. Ids the event carries must agree with the record of the provider
    object (``TargetMismatch``): a refund or payout already made at the provider is that
    provider object's only."""
    refund = event.kind == "refund_failed"
    record_type = RefundRecord if refund else PayoutRecord
    key = RefundRecord.refund_id if refund else PayoutRecord.payout_id
    ours = event.refund_id if refund else event.payout_id
    with Session(engine) as session:
        record = None
        if refund and event.object_reference:
            record = session.exec(
                select(RefundRecord).where(
                    RefundRecord.provider == event.provider,
                    RefundRecord.provider_reference == event.object_reference,
                )
            ).first()
        if record is None and ours:
            record = session.exec(
                select(record_type).where(record_type.provider == event.provider, key == ours)
            ).first()
    if record is None:
        return None
    record_id = getattr(record, key.key)
    _agrees(event.tenant_id, ours, record.tenant_id, record_id)
    made = _provider_object(record)
    if made and event.object_reference and made != event.object_reference:
        raise TargetMismatch((event.tenant_id, ours), (record.tenant_id, record_id))
    return SettlementInput(
        tenant_id=record.tenant_id,
        subject="refund" if refund else "payout",
        subject_id=record_id,
        provider=record.provider,
    )


def _provider_object(record: RefundRecord | PayoutRecord) -> str | None:
    """The provider's id of the refund or payout, once its saga stored it."""
    if isinstance(record, RefundRecord):
        return record.provider_reference
    return PayoutState.model_validate_json(record.state_json).payout_reference


def record_dispute(engine: Engine, tenant: str, payment_id: str, event: ProviderEvent) -> bool:
    """Mark a finished payment disputed in its read model; False if there is no such row."""
    with Session(engine) as session, session.begin():
        record = session.exec(
            select(PaymentRecord)
            .where(PaymentRecord.tenant_id == tenant, PaymentRecord.payment_id == payment_id)
            .with_for_update()
        ).first()
        if record is None:
            return False
        state = PaymentState.model_validate_json(record.state_json)
        now = datetime.now(UTC)
        state.dispute = DisputeRecord(
            provider_event_id=event.event_id,
            reason=event.detail,
            amount=event.amount,
            currency=event.currency,
            opened_at=event.occurred_at or now,
        )
        state.status, state.updated_at = PaymentStatus.DISPUTED, now
        session.exec(
            update(PaymentRecord)
            .where(PaymentRecord.payment_id == payment_id)
            .values(status=state.status.value, state_json=state.model_dump_json(), updated_at=now)
        )
        # A dispute is a fraud label for `paysaga risk train --labels`, kept with the row.
        record_labels(session.connection(), state)
    return True


def _event(event: ProviderEvent):
    return select(WebhookEventRecord).where(
        WebhookEventRecord.provider == event.provider,
        WebhookEventRecord.event_id == event.event_id,
    )


def _upsert_counter(dialect_name: str) -> Insert:
    table = WebhookRejectionRecord.__table__
    statement = dialect_insert(dialect_name, table)
    return statement.on_conflict_do_update(
        index_elements=["provider"],
        set_={
            "rejected": table.c.rejected + 1,
            "last_rejected_at": statement.excluded.last_rejected_at,
        },
    )
