"""The payments read model: one row per payment, upserted on every state change."""

from functools import cache

from sqlalchemy import Connection, Insert
from sqlalchemy.dialects import postgresql, sqlite

from schemas.payments import PaymentState
from schemas.tables import PaymentRecord

_COLUMNS = [column.name for column in PaymentRecord.__table__.columns]
_IMMUTABLE = ("payment_id", "created_at")


@cache
def _upsert_statement(dialect_name: str) -> Insert:
    # Built once per dialect and executed with parameters: a statement rebuilt with literal
    # values on every call cost more Python time than the SQL itself (bench profile).
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    statement = dialect.insert(PaymentRecord.__table__)
    changed = {name: statement.excluded[name] for name in _COLUMNS if name not in _IMMUTABLE}
    # A late, abandoned activity attempt must not overwrite a newer state with an older one.
    newer = PaymentRecord.__table__.c.updated_at <= statement.excluded.updated_at
    return statement.on_conflict_do_update(index_elements=["payment_id"], set_=changed, where=newer)


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
        "state_json": state.model_dump_json(),
        "created_at": state.created_at,
        "updated_at": state.updated_at,
    }
    connection.execute(_upsert_statement(connection.dialect.name), row)
