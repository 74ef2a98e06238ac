"""Idempotency-Key → resource: same key and body give the same payment, another body a 422."""

import hashlib
import json
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from api.problems import Problem
from schemas.tables import IdempotencyRecord


def request_hash(body: BaseModel) -> str:
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def claim_key(
    session: Session, tenant_id: str, key: str, body_hash: str, new_resource_id: str
) -> tuple[str, bool]:
    """The resource id this key stands for, and whether the key had been used before.

    One transaction, one write: the insert either claims the key or, when a request with
    the same key got there first (its transaction committed, or on PostgreSQL waited for),
    leaves it alone and the row that won is read back.
    """
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    claim = (
        dialect.insert(IdempotencyRecord.__table__)
        .values(
            tenant_id=tenant_id,
            key=key,
            request_hash=body_hash,
            resource_id=new_resource_id,
            created_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
    )
    with session.begin():
        if session.connection().execute(claim).rowcount == 1:
            return new_resource_id, False
        record = session.exec(
            select(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
            )
        ).one()
    if record.request_hash != body_hash:
        raise Problem(
            422,
            "idempotency_mismatch",
            "Idempotency-Key reused with a different request",
            "this key was first used with another body; use a new key for a new request",
        )
    return record.resource_id, True
