"""The delivery side of webhook endpoints in SQL: the relay opens one delivery per
subscribed endpoint and event, and each attempt of the delivery saga is recorded with what
it did to the delivery and to its endpoint's failure clock. Every function runs in the
caller's transaction."""

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from schemas.events import selects
from schemas.identity import webhook_delivery_id
from schemas.store import webhook_endpoints as endpoints
from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.events import write_event
from schemas.store.tables import EventRecord
from schemas.store.tables import WebhookAttemptRecord
from schemas.store.tables import WebhookDeliveryRecord
from schemas.store.tables import WebhookEndpointRecord
from schemas.webhook_endpoints import RETRY_WINDOW
from schemas.webhook_endpoints import DeliveryInput

_ENDPOINTS = WebhookEndpointRecord.__table__
_DELIVERIES = WebhookDeliveryRecord.__table__
_ATTEMPTS = WebhookAttemptRecord.__table__
_EVENTS = EventRecord.__table__
DISABLED_FOR_FAILING = "every delivery failed for three days"


def enabled_endpoints(connection: Connection, tenant_id: str) -> list[tuple[str, list[str]]]:
    """The tenant's enabled endpoints: each id with the event types it subscribed to."""
    rows = connection.execute(
        select(_ENDPOINTS.c.endpoint_id, _ENDPOINTS.c.enabled_events_json).where(
            _ENDPOINTS.c.tenant_id == tenant_id, _ENDPOINTS.c.status == "enabled"
        )
    )
    return [(row.endpoint_id, json.loads(row.enabled_events_json)) for row in rows]


def subscribers(endpoints: list[tuple[str, list[str]]], event_type: str) -> list[str]:
    """Which of ``enabled_endpoints`` want ``event_type``."""
    return [endpoint_id for endpoint_id, wanted in endpoints if selects(wanted, event_type)]


def open_delivery(
    connection: Connection, event: Any, endpoint_id: str, now: datetime
) -> DeliveryInput:
    """The delivery of ``event`` (an events row) to the endpoint, stored once."""
    delivery_id = webhook_delivery_id(endpoint_id, event.event_id)
    statement = dialect_insert(connection.dialect.name, _DELIVERIES).on_conflict_do_nothing(
        index_elements=["delivery_id"]
    )
    connection.execute(
        statement,
        {
            "delivery_id": delivery_id,
            "tenant_id": event.tenant_id,
            "endpoint_id": endpoint_id,
            "event_id": event.event_id,
            "event_type": event.type,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        },
    )
    return DeliveryInput(
        tenant_id=event.tenant_id,
        delivery_id=delivery_id,
        endpoint_id=endpoint_id,
        event_id=event.event_id,
        event_type=event.type,
    )


@dataclass(frozen=True)
class AttemptTarget:
    """What an attempt sends, and where: None endpoint when it is deleted or disabled."""

    delivery_id: str
    endpoint: Any | None
    event_id: str
    event_type: str
    event_created_at: datetime
    body: str


def attempt_target(connection: Connection, tenant_id: str, delivery_id: str) -> AttemptTarget:
    delivery = connection.execute(
        select(_DELIVERIES).where(
            _DELIVERIES.c.delivery_id == delivery_id, _DELIVERIES.c.tenant_id == tenant_id
        )
    ).one()
    event = connection.execute(select(_EVENTS).where(_EVENTS.c.event_id == delivery.event_id)).one()
    endpoint = connection.execute(
        select(_ENDPOINTS).where(
            _ENDPOINTS.c.endpoint_id == delivery.endpoint_id,
            _ENDPOINTS.c.tenant_id == tenant_id,
            _ENDPOINTS.c.status == "enabled",
        )
    ).first()
    created_at = as_utc(event.created_at)
    # The Standard Webhooks payload: type, timestamp, data; the id travels as webhook-id.
    body = (
        f'{{"id":{json.dumps(event.event_id)},"type":{json.dumps(event.type)},'
        f'"timestamp":{json.dumps(created_at.isoformat())},"data":{event.data_json}}}'
    )
    return AttemptTarget(delivery_id, endpoint, event.event_id, event.type, created_at, body)


@dataclass(frozen=True)
class AttemptRecord:
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    excerpt: str | None
    manual: bool


def record_attempt(
    connection: Connection,
    tenant_id: str,
    target: AttemptTarget,
    attempt: AttemptRecord,
    delivered: bool,
    next_attempt_at: datetime | None,
) -> bool:
    """Store the attempt, move the delivery on, and run the endpoint's failure clock: a
    delivered attempt stops it; a failed one starts it, and once it has run for the retry
    window the endpoint is disabled (with an event saying so). Answers whether it was."""
    number = (
        connection.execute(
            select(func.count()).where(_ATTEMPTS.c.delivery_id == target.delivery_id)
        ).scalar_one()
        + 1
    )
    connection.execute(
        _ATTEMPTS.insert(),
        {
            "delivery_id": target.delivery_id,
            "number": number,
            "at": attempt.at,
            "status_code": attempt.status_code,
            "latency_ms": attempt.latency_ms,
            "error": (attempt.error or None) and attempt.error[:300],
            "response_excerpt": attempt.excerpt,
            "manual": attempt.manual,
        },
    )
    if delivered:
        status = "delivered"
    else:
        status = "pending" if next_attempt_at is not None else "failed"
    connection.execute(
        update(_DELIVERIES)
        .where(_DELIVERIES.c.delivery_id == target.delivery_id)
        .values(
            status=status,
            attempts=number,
            next_attempt_at=None if delivered else next_attempt_at,
            updated_at=attempt.at,
        )
    )
    endpoint = target.endpoint
    if endpoint is None:
        return False
    endpoint_row = _ENDPOINTS.c.endpoint_id == endpoint.endpoint_id
    if delivered:
        connection.execute(update(_ENDPOINTS).where(endpoint_row).values(failing_since=None))
        return False
    failing_since = as_utc(endpoint.failing_since) or attempt.at
    if attempt.at - failing_since < RETRY_WINDOW:
        if endpoint.failing_since is None:
            connection.execute(
                update(_ENDPOINTS)
                .where(endpoint_row, _ENDPOINTS.c.failing_since.is_(None))
                .values(failing_since=attempt.at)
            )
        return False
    disabled = connection.execute(
        update(_ENDPOINTS)
        .where(endpoint_row, _ENDPOINTS.c.status == "enabled")
        .values(status="disabled", disabled_reason=DISABLED_FOR_FAILING, updated_at=attempt.at)
    ).rowcount
    if disabled:
        view = endpoints.get(connection, tenant_id, endpoint.endpoint_id)
        write_event(
            connection,
            tenant_id,
            "webhook_endpoint.disabled",
            "webhook_endpoint",
            endpoint.endpoint_id,
            attempt.at,
            view.model_dump_json(exclude={"secret"}),  # None already: never in an event
        )
    return bool(disabled)
