"""Events in SQL: written by the read model's upsert in the transaction of the change they
report (so none is lost and none invented when a process dies around the commit), read by
``GET /v1/events`` and by the relay that starts their deliveries (the outbox).

An event's id is derived from the change: the object, the type and the state's
``updated_at``, or the object and the type alone for an object that makes each type once
(a payment succeeds once). A write repeated after a crash, or two writers racing on one
change, insert one row."""

import json
from datetime import UTC
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import bindparam
from sqlalchemy import select
from sqlalchemy import update

from schemas.domain.events import EVENTS_OF_CHANGE
from schemas.events import Event
from schemas.identity import event_id
from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.tables import EventRecord

events_table = EventRecord.__table__
_MARK_DISPATCHED = (
    update(events_table)
    .where(events_table.c.event_id.in_(bindparam("ids", expanding=True)))
    .values(dispatched_at=bindparam("at"))
)


def record_change(
    connection: Connection,
    object_type: str,
    object_id: str,
    previous_status: str | None,
    state: BaseModel,
    state_json: str,
    once_per_type: bool = False,
) -> list[str]:
    """The events of ``state`` replacing ``previous_status`` (None: a new object, or one
    whose event types each happen once: ``once_per_type``), written on ``connection``;
    answers their types."""
    status = str(state.status)
    types = EVENTS_OF_CHANGE[object_type](previous_status, status)
    for event_type in types:
        write_event(
            connection,
            state.tenant_id,
            event_type,
            object_type,
            object_id,
            state.updated_at,
            state_json,
            once_per_type,
        )
    return types


def write_event(
    connection: Connection,
    tenant_id: str,
    event_type: str,
    object_type: str,
    object_id: str,
    at: datetime,
    object_json: str,
    once_per_type: bool = False,
) -> str:
    """One event, unless the same change already wrote it (``once_per_type``: unless the
    object already made one of this type); answers its id."""
    at = as_utc(at)
    new_id = event_id(tenant_id, object_id, event_type, "" if once_per_type else at.isoformat())
    connection.execute(
        _insert_event(connection.dialect.name),
        {
            "event_id": new_id,
            "tenant_id": tenant_id,
            "type": event_type,
            "object_type": object_type,
            "object_id": object_id,
            "created_at": at,
            "dispatched_at": None,
            "data_json": f'{{"object":{object_json}}}',
        },
    )
    return new_id


_inserts: dict[str, Any] = {}


def _insert_event(dialect_name: str):
    if dialect_name not in _inserts:
        _inserts[dialect_name] = dialect_insert(dialect_name, events_table).on_conflict_do_nothing(
            index_elements=["event_id"]
        )
    return _inserts[dialect_name]


def as_event(record: Any) -> Event:
    return Event(
        id=record.event_id,
        type=record.type,
        object_type=record.object_type,
        object_id=record.object_id,
        created_at=as_utc(record.created_at),
        data=json.loads(record.data_json),
    )


def undispatched(connection: Connection, limit: int) -> list[Any]:
    """The oldest events whose deliveries have not been started (every tenant's)."""
    return list(
        connection.execute(
            select(events_table)
            .where(events_table.c.dispatched_at.is_(None))
            .order_by(events_table.c.created_at, events_table.c.event_id)
            .limit(limit)
        )
    )


def mark_dispatched(engine: Engine, ids: list[str]) -> None:
    if ids:
        with engine.begin() as connection:
            connection.execute(_MARK_DISPATCHED, {"ids": ids, "at": datetime.now(UTC)})


def get_event(connection: Connection, tenant_id: str, id_: str) -> Event | None:
    row = connection.execute(
        select(events_table).where(
            events_table.c.event_id == id_, events_table.c.tenant_id == tenant_id
        )
    ).first()
    return as_event(row) if row else None


def page_events(
    connection: Connection,
    tenant_id: str,
    limit: int,
    after: tuple[datetime, str] | None = None,
    event_type: str | None = None,
    object_id: str | None = None,
) -> tuple[list[Event], tuple[datetime, str] | None]:
    """Newest first, keyset-paginated on ``(created_at, id)``; ``event_type`` an exact type
    or a family (``refund.*``)."""
    columns = events_table.c
    query = select(events_table).where(columns.tenant_id == tenant_id)
    if event_type is not None:
        if event_type.endswith(".*"):
            query = query.where(columns.type.startswith(event_type[:-1], autoescape=True))
        else:
            query = query.where(columns.type == event_type)
    if object_id is not None:
        query = query.where(columns.object_id == object_id)
    if after is not None:
        created_at, last_id = after
        query = query.where(
            (columns.created_at < created_at)
            | ((columns.created_at == created_at) & (columns.event_id < last_id))
        )
    query = query.order_by(columns.created_at.desc(), columns.event_id.desc()).limit(limit + 1)
    rows = list(connection.execute(query))
    more = len(rows) > limit
    rows = rows[:limit]
    events = [as_event(row) for row in rows]
    position = (as_utc(rows[-1].created_at), rows[-1].event_id) if more else None
    return events, position
