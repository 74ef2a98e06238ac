"""Webhook endpoints in SQL, and the read side of their deliveries (each with its attempts).
Every function runs in the caller's transaction; another tenant's row is as missing as one
never made.

An endpoint's signing secret is Standard Webhooks' (``whsec_`` + base64 of 32 random bytes,
what ``standardwebhooks.Webhook`` takes). It is answered only by the create and by a
rotation; after a rotation the replaced secret signs too until it expires
(``signing_secrets``), so receivers can switch without losing a delivery."""

import base64
import json
import secrets
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import and_
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.tables import WebhookAttemptRecord
from schemas.store.tables import WebhookDeliveryRecord
from schemas.store.tables import WebhookEndpointRecord
from schemas.webhook_endpoints import CreateWebhookEndpointRequest
from schemas.webhook_endpoints import DeliveryAttempt
from schemas.webhook_endpoints import DeliveryStatus
from schemas.webhook_endpoints import UpdateWebhookEndpointRequest
from schemas.webhook_endpoints import WebhookDelivery
from schemas.webhook_endpoints import WebhookEndpoint

SECRET_PREFIX = "whsec_"  # noqa: S105
SECRET_BYTES = 32
DISABLED_BY_TENANT = "disabled by the tenant"

_ENDPOINTS = WebhookEndpointRecord.__table__
_DELIVERIES = WebhookDeliveryRecord.__table__
_ATTEMPTS = WebhookAttemptRecord.__table__


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_secrets(record: Any, now: datetime) -> list[str]:
    """The secrets a delivery made at ``now`` is signed with: the endpoint's own, and the
    one it replaced while that has not expired."""
    found = [record.secret]
    expires_at = as_utc(record.previous_secret_expires_at)
    if record.previous_secret and expires_at is not None and now < expires_at:
        found.append(record.previous_secret)
    return found


def _endpoint(row: Any, *, with_secret: bool = False) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.endpoint_id,
        url=row.url,
        enabled_events=json.loads(row.enabled_events_json),
        description=row.description,
        status=row.status,
        disabled_reason=row.disabled_reason,
        secret=row.secret if with_secret else None,
        previous_secret_expires_at=as_utc(row.previous_secret_expires_at),
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
    )


def get_record(
    connection: Connection, tenant_id: str, endpoint_id: str, *, lock: bool = False
) -> Any | None:
    """The endpoint's row, secrets included (what signs its deliveries); ``lock``: until the
    transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE already serializes writers)."""
    query = select(_ENDPOINTS).where(
        _ENDPOINTS.c.endpoint_id == endpoint_id, _ENDPOINTS.c.tenant_id == tenant_id
    )
    return connection.execute(query.with_for_update() if lock else query).first()


def create(
    connection: Connection,
    tenant_id: str,
    endpoint_id: str,
    request: CreateWebhookEndpointRequest,
    now: datetime,
) -> WebhookEndpoint:
    """Store it with a new secret, answered with it; a retry under the same id (its
    Idempotency-Key) finds the first one."""
    statement = dialect_insert(connection.dialect.name, _ENDPOINTS).on_conflict_do_nothing(
        index_elements=["endpoint_id"]
    )
    connection.execute(
        statement,
        {
            "endpoint_id": endpoint_id,
            "tenant_id": tenant_id,
            "url": request.url,
            "description": request.description,
            "enabled_events_json": json.dumps(request.enabled_events),
            "status": "enabled",
            "secret": new_signing_secret(),
            "created_at": now,
            "updated_at": now,
        },
    )
    row = get_record(connection, tenant_id, endpoint_id)
    assert row is not None, "an endpoint with this id exists"
    return _endpoint(row, with_secret=True)


def get(connection: Connection, tenant_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    row = get_record(connection, tenant_id, endpoint_id)
    return _endpoint(row) if row else None


def newest(connection: Connection, tenant_id: str, limit: int) -> list[WebhookEndpoint]:
    rows = connection.execute(
        select(_ENDPOINTS)
        .where(_ENDPOINTS.c.tenant_id == tenant_id)
        .order_by(_ENDPOINTS.c.created_at.desc(), _ENDPOINTS.c.endpoint_id.desc())
        .limit(limit)
    )
    return [_endpoint(row) for row in rows]


def update_endpoint(
    connection: Connection,
    tenant_id: str,
    endpoint_id: str,
    request: UpdateWebhookEndpointRequest,
    now: datetime,
) -> WebhookEndpoint | None:
    """Only the fields sent change; a null ``url``, ``enabled_events`` or ``disabled`` is
    as if not sent (they cannot be empty), a null ``description`` clears it. Enabling
    starts the failure clock again."""
    sent = request.model_fields_set
    values: dict[str, Any] = {"updated_at": now}
    if request.url is not None:
        values["url"] = request.url
    if request.enabled_events is not None:
        values["enabled_events_json"] = json.dumps(request.enabled_events)
    if "description" in sent:
        values["description"] = request.description
    if request.disabled is True:
        values |= {"status": "disabled", "disabled_reason": DISABLED_BY_TENANT}
    elif request.disabled is False:
        values |= {"status": "enabled", "disabled_reason": None, "failing_since": None}
    if len(values) == 1:  # nothing to change
        return get(connection, tenant_id, endpoint_id)
    changed = connection.execute(
        update(_ENDPOINTS)
        .where(_ENDPOINTS.c.endpoint_id == endpoint_id, _ENDPOINTS.c.tenant_id == tenant_id)
        .values(**values)
    )
    return get(connection, tenant_id, endpoint_id) if changed.rowcount else None


def rotate_secret(
    connection: Connection, tenant_id: str, endpoint_id: str, overlap: timedelta, now: datetime
) -> WebhookEndpoint | None:
    """A new secret, answered with it; the replaced one signs too for ``overlap`` (zero:
    not at all). A secret replaced earlier and still signing stops now; two rotations at
    once take turns, so the replaced secret is always one that was in use."""
    row = get_record(connection, tenant_id, endpoint_id, lock=True)
    if row is None:
        return None
    keeps_previous = overlap > timedelta(0)
    connection.execute(
        update(_ENDPOINTS)
        .where(_ENDPOINTS.c.endpoint_id == endpoint_id, _ENDPOINTS.c.tenant_id == tenant_id)
        .values(
            secret=new_signing_secret(),
            previous_secret=row.secret if keeps_previous else None,
            previous_secret_expires_at=now + overlap if keeps_previous else None,
            updated_at=now,
        )
    )
    rotated = get_record(connection, tenant_id, endpoint_id)
    return _endpoint(rotated, with_secret=True)


def delete_endpoint(connection: Connection, tenant_id: str, endpoint_id: str) -> bool:
    """The endpoint, its deliveries and their attempts; False when it is none of the
    tenant's."""
    deliveries = select(_DELIVERIES.c.delivery_id).where(
        _DELIVERIES.c.endpoint_id == endpoint_id, _DELIVERIES.c.tenant_id == tenant_id
    )
    removed = connection.execute(
        delete(_ENDPOINTS).where(
            _ENDPOINTS.c.endpoint_id == endpoint_id, _ENDPOINTS.c.tenant_id == tenant_id
        )
    )
    if not removed.rowcount:
        return False
    connection.execute(delete(_ATTEMPTS).where(_ATTEMPTS.c.delivery_id.in_(deliveries)))
    connection.execute(
        delete(_DELIVERIES).where(
            _DELIVERIES.c.endpoint_id == endpoint_id, _DELIVERIES.c.tenant_id == tenant_id
        )
    )
    return True


def _deliveries_with_attempts(connection: Connection, rows: list[Any]) -> list[WebhookDelivery]:
    ids = [row.delivery_id for row in rows]
    attempts: dict[str, list[DeliveryAttempt]] = {delivery_id: [] for delivery_id in ids}
    if ids:
        found = connection.execute(
            select(_ATTEMPTS)
            .where(_ATTEMPTS.c.delivery_id.in_(ids))
            .order_by(_ATTEMPTS.c.delivery_id, _ATTEMPTS.c.number)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(
                DeliveryAttempt(
                    number=attempt.number,
                    at=as_utc(attempt.at),
                    status_code=attempt.status_code,
                    latency_ms=attempt.latency_ms,
                    error=attempt.error,
                    response_excerpt=attempt.response_excerpt,
                    manual=attempt.manual,
                )
            )
    return [
        WebhookDelivery(
            id=row.delivery_id,
            endpoint_id=row.endpoint_id,
            event_id=row.event_id,
            event_type=row.event_type,
            status=row.status,
            attempts=attempts[row.delivery_id],
            next_attempt_at=as_utc(row.next_attempt_at),
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
        )
        for row in rows
    ]


def list_deliveries(
    connection: Connection,
    tenant_id: str,
    endpoint_id: str,
    limit: int,
    after: tuple[datetime, str] | None = None,
    status: DeliveryStatus | None = None,
) -> tuple[list[WebhookDelivery], tuple[datetime, str] | None]:
    """The endpoint's deliveries newest first, keyset-paginated on ``(created_at, id)``:
    up to ``limit`` after the position ``after``, and the position of the last one when
    more follow."""
    columns = _DELIVERIES.c
    query = select(_DELIVERIES).where(
        columns.tenant_id == tenant_id, columns.endpoint_id == endpoint_id
    )
    if status is not None:
        query = query.where(columns.status == status)
    if after is not None:
        created_at, last_id = after
        query = query.where(
            or_(
                columns.created_at < created_at,
                and_(columns.created_at == created_at, columns.delivery_id < last_id),
            )
        )
    query = query.order_by(columns.created_at.desc(), columns.delivery_id.desc())
    rows = list(connection.execute(query.limit(limit + 1)))
    deliveries = _deliveries_with_attempts(connection, rows[:limit])
    if len(rows) <= limit:
        return deliveries, None
    last = rows[limit - 1]
    return deliveries, (as_utc(last.created_at), last.delivery_id)


def get_delivery(
    connection: Connection, tenant_id: str, delivery_id: str
) -> WebhookDelivery | None:
    row = connection.execute(
        select(_DELIVERIES).where(
            _DELIVERIES.c.delivery_id == delivery_id, _DELIVERIES.c.tenant_id == tenant_id
        )
    ).first()
    return _deliveries_with_attempts(connection, [row])[0] if row else None
