"""The tables as ``SQLModel.metadata.create_all`` made them before there were migrations.

A frozen copy of ``schemas/store/tables.py`` at the commit that introduced Alembic, on a
registry of its own (``LEGACY_METADATA``) so it never mixes with the current models.
Migration ``0001_baseline`` must produce exactly this schema, and databases made by
``create_all`` from it must be adopted and upgraded (tests/schemas/store/test_migrations.py).
"""

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy import Column
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import registry
from sqlmodel import Field
from sqlmodel import SQLModel

_registry = registry()


class _Legacy(SQLModel, registry=_registry):
    pass


class PaymentRecord(_Legacy, table=True):
    """Read model of a payment: readable after Temporal's retention removed the history."""

    __tablename__ = "payments"

    payment_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    status: str = Field(index=True, max_length=32)
    customer_id: str = Field(index=True, max_length=64)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    provider: str = Field(max_length=32)
    capture_method: str = Field(max_length=16)
    authorized_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    captured_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    refunded_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    provider_reference: str | None = Field(default=None, max_length=64)
    failure_code: str | None = Field(default=None, max_length=64)
    state_json: str  # the full PaymentState, as the workflow last reported it
    created_at: datetime = Field(index=True)
    updated_at: datetime


class IdempotentRequest(_Legacy, table=True):
    """A client's Idempotency-Key: the request it was first used with, and its response.

    ``locked_by`` is set while a request with the key executes; ``response_*`` once one
    finished with an answer worth replaying. Rows older than the retention window are
    purged and the key may then be used again (docs: README, "Idempotency").
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    key: str = Field(max_length=255)
    # SHA-256 of method, path and canonical body: another request under the key is a 422.
    fingerprint: str = Field(max_length=64)
    # The resource the first request created (a payment id), kept across retries.
    resource_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(index=True)
    locked_by: str | None = Field(default=None, max_length=32)
    locked_at: datetime | None = None
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LedgerAccount(_Legacy, table=True):
    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "code", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    code: str = Field(max_length=64)
    currency: str = Field(max_length=3)


class JournalEntry(_Legacy, table=True):
    __tablename__ = "journal_entries"

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    idempotency_key: str = Field(unique=True, max_length=128)
    payment_id: str = Field(index=True, max_length=40)
    kind: str = Field(max_length=16)
    description: str = Field(max_length=200)
    created_at: datetime


class Posting(_Legacy, table=True):
    __tablename__ = "postings"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="journal_entries.id", index=True)
    account_id: int = Field(foreign_key="ledger_accounts.id", index=True)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)


class Tenant(_Legacy, table=True):
    """A merchant: every payment, key, ledger account and query belongs to exactly one."""

    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime


class ApiKey(_Legacy, table=True):
    """A tenant's secret key, stored only as an Argon2id hash; ``prefix`` finds it."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    prefix: str = Field(unique=True, max_length=32)
    secret_hash: str = Field(max_length=200)
    created_at: datetime
    # Set by a rotation with a grace period: the key works until then.
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = Field(default=None, max_length=40)


class AuditEvent(_Legacy, table=True):
    """Append-only record of key operations: nothing updates or deletes these rows."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    tenant_id: str = Field(index=True, max_length=64)
    key_id: str | None = Field(default=None, max_length=40)
    detail: str | None = Field(default=None, max_length=200)


class TenantRateLimit(_Legacy, table=True):
    """A tenant's own token bucket, when it differs from the settings' default."""

    __tablename__ = "tenant_rate_limits"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.id", max_length=64)
    per_second: float
    burst: int
    updated_at: datetime


LEGACY_METADATA = _registry.metadata
