"""Email settings and sent emails in SQL. Every function runs in the caller's transaction;
another tenant's row is as missing as one never made."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy import update

from schemas.email import EmailDeliveryInput
from schemas.email import EmailSettings
from schemas.email import EmailSettingsRequest
from schemas.email import OutgoingEmail
from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.tables import EmailMessageRecord
from schemas.store.tables import EmailSettingsRecord

_SETTINGS = EmailSettingsRecord.__table__
_MESSAGES = EmailMessageRecord.__table__


def _settings(row: Any) -> EmailSettings:
    fields = dict(row)
    fields["enabled_kinds"] = json.loads(fields.pop("enabled_kinds_json"))
    fields["created_at"], fields["updated_at"] = (
        as_utc(fields["created_at"]),
        as_utc(fields["updated_at"]),
    )
    return EmailSettings.model_validate(fields)


def _message(row: Any) -> OutgoingEmail:
    fields = dict(row)
    del fields["tenant_id"]
    for moment in ("sent_at", "created_at", "updated_at"):
        fields[moment] = as_utc(fields[moment])
    return OutgoingEmail.model_validate(fields)


def get_settings(connection: Connection, tenant_id: str) -> EmailSettings | None:
    row = (
        connection.execute(select(_SETTINGS).where(_SETTINGS.c.tenant_id == tenant_id))
        .mappings()
        .first()
    )
    return _settings(row) if row else None


def put_settings(
    connection: Connection, tenant_id: str, body: EmailSettingsRequest, now: datetime
) -> EmailSettings:
    """Replace the tenant's settings (its first ones are created); ``created_at`` stays."""
    values = body.model_dump(exclude={"enabled_kinds"}) | {
        "tenant_id": tenant_id,
        "enabled_kinds_json": json.dumps(body.enabled_kinds),
        "created_at": now,
        "updated_at": now,
    }
    changed = {k: v for k, v in values.items() if k not in ("tenant_id", "created_at")}
    statement = dialect_insert(connection.dialect.name, _SETTINGS)
    connection.execute(
        statement.on_conflict_do_update(index_elements=["tenant_id"], set_=changed), values
    )
    found = get_settings(connection, tenant_id)
    assert found is not None, "the settings were just written"
    return found


def start_message(
    connection: Connection, email: EmailDeliveryInput, now: datetime
) -> OutgoingEmail:
    """The email's row, made ``pending`` by its first attempt (a later one finds it)."""
    statement = dialect_insert(connection.dialect.name, _MESSAGES).on_conflict_do_nothing(
        index_elements=["email_id"]
    )
    connection.execute(
        statement,
        {
            "email_id": email.email_id,
            "tenant_id": email.tenant_id,
            "kind": email.kind,
            "event_id": email.event_id,
            "status": "pending",
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    found = get_message(connection, email.tenant_id, email.email_id)
    assert found is not None, "an email with this id exists"
    return found


def get_message(connection: Connection, tenant_id: str, email_id: str) -> OutgoingEmail | None:
    row = (
        connection.execute(
            select(_MESSAGES).where(
                _MESSAGES.c.email_id == email_id, _MESSAGES.c.tenant_id == tenant_id
            )
        )
        .mappings()
        .first()
    )
    return _message(row) if row else None


def update_message(
    connection: Connection, tenant_id: str, email_id: str, now: datetime, **changes: Any
) -> None:
    """Record what an attempt did (``status``, ``attempts``, ``recipient``, …). A final
    status is never changed again: a late attempt cannot undo what an earlier one did."""
    connection.execute(
        update(_MESSAGES)
        .where(
            _MESSAGES.c.email_id == email_id,
            _MESSAGES.c.tenant_id == tenant_id,
            _MESSAGES.c.status == "pending",
        )
        .values(**changes, updated_at=now)
    )


def messages_of_event(connection: Connection, tenant_id: str, event_id: str) -> list[OutgoingEmail]:
    rows = connection.execute(
        select(_MESSAGES)
        .where(_MESSAGES.c.tenant_id == tenant_id, _MESSAGES.c.event_id == event_id)
        .order_by(_MESSAGES.c.created_at, _MESSAGES.c.email_id)
    ).mappings()
    return [_message(row) for row in rows]
