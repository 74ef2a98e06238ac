"""The read model: one row per payment, refund or payout, upserted on every state change."""

from functools import cache

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql, sqlite

from schemas.payments import PaymentState
from schemas.store.risk_labels import record_labels
from schemas.store.tables import PaymentRecord


@cache
def _upsert_statement(dialect_name: str, table: Table, key: str) -> Insert:
    # Built once per table and dialect and executed with parameters: a statement rebuilt with
    # literal values on every call cost more Python time than the SQL itself (bench profile).
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(table)
    changed = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in (key, "created_at")
    }
    # A late, abandoned activity attempt must not overwrite a newer state with an older one.
    newer = table.c.updated_at <= statement.excluded.updated_at
    return statement.on_conflict_do_update(index_elements=[key], set_=changed, where=newer)


def upsert_newer(connection: Connection, table: Table, key: str, row: dict) -> None:
    """Insert the read-model row, or update it unless the stored one is newer. ``row`` has
    every column; ``key`` and ``created_at`` never change."""
    connection.execute(_upsert_statement(connection.dialect.name, table, key), row)


def upsert_payment(connection: Connection, state: PaymentState) -> None:
    row = {
        "payment_id": state.payment_id,
        "tenant_id": state.tenant_id,
        "status": state.status.value,
        "customer_id": state.customer_id,
        "amount": state.amount,
        "currency": state.currency,
        "provider": state.provider,
        "capture_method": state.capture_method,
        "authorized_amount": state.authorized_amount,
        "captured_amount": state.captured_amount,
        "refunded_amount": state.refunded_amount,
        "provider_reference": state.provider_reference,
        "failure_code": state.failure_code,
        "card_fingerprint": state.card_fingerprint,
        "state_json": state.model_dump_json(),
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    upsert_newer(connection, PaymentRecord.__table__, "payment_id", row)
    # A review verdict or a dispute becomes a training label in the same transaction.
    record_labels(connection, state)
