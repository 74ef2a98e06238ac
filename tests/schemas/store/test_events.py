"""Events are written by the read model's upsert in the transaction of the change: one per
change, none for a write that changes no status or loses to a newer state, and the same id
when a write is repeated."""

from datetime import timedelta

from sqlalchemy import select

from schemas.payments import PaymentStatus
from schemas.store.events import get_event
from schemas.store.events import mark_dispatched
from schemas.store.events import page_events
from schemas.store.events import undispatched
from schemas.store.read_model import PAYMENTS
from schemas.store.tables import EventRecord
from tests.support.payments import processing_state


def _types(engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(EventRecord.type).order_by(EventRecord.created_at, EventRecord.type)
        )
        return [row.type for row in rows]


def _upsert(engine, state) -> None:
    with engine.begin() as connection:
        PAYMENTS.upsert(connection, state)


def test_a_status_change_writes_its_event_once(database_engine):
    state = processing_state()
    _upsert(database_engine, state)
    assert _types(database_engine) == []  # processing is nothing a merchant hears about
    succeeded = state.model_copy(
        update={"status": PaymentStatus.SUCCEEDED, "updated_at": state.updated_at + timedelta(1)}
    )
    _upsert(database_engine, succeeded)
    _upsert(database_engine, succeeded)  # the activity ran again after a crash
    assert _types(database_engine) == ["payment.succeeded"]
    with database_engine.connect() as connection:
        events, more = page_events(connection, state.tenant_id, 10)
        assert more is None
        event = events[0]
        assert event.object_id == state.payment_id
        assert event.data["object"]["status"] == "succeeded"
        assert event.created_at == succeeded.updated_at
        assert get_event(connection, "another-tenant", event.id) is None
        assert get_event(connection, state.tenant_id, event.id) == event


def test_an_older_state_loses_and_writes_no_event(database_engine):
    state = processing_state()
    later = state.model_copy(
        update={
            "status": PaymentStatus.REQUIRES_CAPTURE,
            "updated_at": state.updated_at + timedelta(1),
        }
    )
    _upsert(database_engine, later)
    stale = state.model_copy(update={"status": PaymentStatus.CANCELED})
    _upsert(database_engine, stale)
    assert _types(database_engine) == ["payment.requires_capture"]


def test_events_wait_for_the_relay_until_dispatched(database_engine):
    state = processing_state(status=PaymentStatus.REQUIRES_ACTION)
    _upsert(database_engine, state)
    with database_engine.connect() as connection:
        pending = undispatched(connection, 10)
    assert [row.type for row in pending] == ["payment.requires_action"]
    mark_dispatched(database_engine, [pending[0].event_id])
    with database_engine.connect() as connection:
        assert undispatched(connection, 10) == []


def test_events_page_newest_first_with_filters(database_engine):
    base = processing_state()
    for n, status in enumerate(
        [PaymentStatus.REQUIRES_ACTION, PaymentStatus.REQUIRES_CAPTURE, PaymentStatus.SUCCEEDED]
    ):
        _upsert(
            database_engine,
            base.model_copy(
                update={"status": status, "updated_at": base.updated_at + timedelta(n)}
            ),
        )
    with database_engine.connect() as connection:
        first, position = page_events(connection, base.tenant_id, 2)
        assert [e.type for e in first] == ["payment.succeeded", "payment.requires_capture"]
        rest, end = page_events(connection, base.tenant_id, 2, after=position)
        assert [e.type for e in rest] == ["payment.requires_action"] and end is None
        only, _ = page_events(connection, base.tenant_id, 10, event_type="payment.succeeded")
        assert [e.type for e in only] == ["payment.succeeded"]
        family, _ = page_events(connection, base.tenant_id, 10, event_type="payment.*")
        assert len(family) == 3
        none, _ = page_events(connection, base.tenant_id, 10, event_type="refund.*")
        assert none == []
        by_object, _ = page_events(connection, base.tenant_id, 10, object_id="pay_other")
        assert by_object == []
