"""Per-tenant quotas (``schemas.tenants.TenantQuotas``) on what a tenant creates without
moving money: the tenant's rows are counted in the transaction that inserts the next one.

SQLite serializes every write transaction (``BEGIN IMMEDIATE``), so the count and the insert
cannot interleave with another's. On PostgreSQL, READ COMMITTED would let two concurrent
creates both count ``limit - 1``: a transaction-scoped advisory lock on (tenant, kind) makes
them take turns, and the second counts the first's row once it committed. An advisory lock
rather than the tenant's row: a tenant acting with authentication off may have no row.
"""

import hashlib

from sqlalchemy import Connection
from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import select

from schemas.store.tables import ConnectedAccountRecord
from schemas.store.tables import CustomerRecord
from schemas.store.tables import InvoiceRecord
from schemas.store.tables import PlanRecord
from schemas.store.tables import RiskRuleSetRecord
from schemas.store.tables import SavedPaymentMethodRecord
from schemas.store.tables import WebhookEndpointRecord
from schemas.tenants import QuotaKind
from schemas.tenants import TenantQuotas

# What each quota counts: the table, and the column naming one row (None: rows have no id a
# retried request would reuse).
_COUNTED: dict[QuotaKind, tuple[Table, str | None]] = {
    "rule_set_versions": (RiskRuleSetRecord.__table__, None),
    "customers": (CustomerRecord.__table__, "customer_id"),
    "saved_payment_methods": (SavedPaymentMethodRecord.__table__, "payment_method_id"),
    "plans": (PlanRecord.__table__, "plan_id"),
    "connected_accounts": (ConnectedAccountRecord.__table__, "account_id"),
    "invoices": (InvoiceRecord.__table__, "invoice_id"),
    "webhook_endpoints": (WebhookEndpointRecord.__table__, "endpoint_id"),
}
# How the detail names them.
NAMES: dict[QuotaKind, str] = {
    "rule_set_versions": "risk rule set versions",
    "customers": "customers",
    "saved_payment_methods": "saved payment methods",
    "plans": "plans",
    "connected_accounts": "connected accounts",
    "invoices": "invoices",
    "webhook_endpoints": "webhook endpoints",
}


class QuotaExceeded(Exception):
    """The tenant holds ``limit`` objects of ``kind`` already: nothing was written."""

    def __init__(self, kind: QuotaKind, limit: int) -> None:
        super().__init__(f"the tenant has reached its limit of {limit} {NAMES[kind]}")
        self.kind, self.limit = kind, limit


def enforce_quota(
    connection: Connection,
    tenant_id: str,
    kind: QuotaKind,
    quotas: TenantQuotas,
    key: str | None = None,
) -> None:
    """Raise ``QuotaExceeded`` unless the tenant may create one more ``kind`` (in the
    caller's transaction, before its insert). ``key``: the new row's id; a retried request
    whose row is stored already creates nothing, so it passes."""
    table, key_column = _COUNTED[kind]
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_lock_id(tenant_id, kind))))
    if key is not None and key_column is not None:
        stored = select(table.c[key_column]).where(
            table.c[key_column] == key, table.c.tenant_id == tenant_id
        )
        if connection.execute(stored).first() is not None:
            return
    limit = getattr(quotas, kind)
    held = connection.execute(
        select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
    ).scalar_one()
    if held >= limit:
        raise QuotaExceeded(kind, limit)


def _lock_id(tenant_id: str, kind: str) -> int:
    """A signed 64-bit key for ``pg_advisory_xact_lock``, stable across processes."""
    digest = hashlib.sha256(f"paysaga:quota:{kind}:{tenant_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
