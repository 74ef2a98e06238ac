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
from schemas.provider_events import ProviderEvent
from schemas.settlements import SettlementInput
from schemas.store.database import dialect_insert
from schemas.store.risk_labels import record_labels
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


def find_payment(engine: Engine, event: ProviderEvent) -> tuple[str, str] | None:
    """(tenant, payment id) of the event: echoed by the provider, or found by its reference."""
    if event.tenant_id and event.payment_id:
        return event.tenant_id, event.payment_id
    if not event.object_reference:
        return None
    with Session(engine) as session:
        record = session.exec(
            select(PaymentRecord).where(
                PaymentRecord.provider == event.provider,
                PaymentRecord.provider_reference == event.object_reference,
            )
        ).first()
    return (record.tenant_id, record.payment_id) if record else None


def find_settlement_subject(engine: Engine, event: ProviderEvent) -> SettlementInput | None:
    """The refund or payout a late refund or payout event is about, made through the
    event's provider: by our id the provider echoes, or (refunds) by the provider's id."""
    if event.kind == "refund_failed":
        record_type, key = RefundRecord, RefundRecord.refund_id
        ours, subject = event.refund_id, "refund"
    else:
        record_type, key = PayoutRecord, PayoutRecord.payout_id
        ours, subject = event.payout_id, "payout"
    query = select(record_type).where(record_type.provider == event.provider)
    if ours:
        query = query.where(key == ours)
    elif subject == "refund" and event.object_reference:
        query = query.where(RefundRecord.provider_reference == event.object_reference)
    else:
        return None
    if event.tenant_id:
        query = query.where(record_type.tenant_id == event.tenant_id)
    with Session(engine) as session:
        record = session.exec(query).first()
    if record is None:
        return None
    return SettlementInput(
        tenant_id=record.tenant_id,
        subject=subject,
        subject_id=getattr(record, key.key),
        provider=record.provider,
    )


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
