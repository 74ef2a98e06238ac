"""The payments read model: one row per payment, upserted on every state change."""

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from schemas.payments import PaymentState
from schemas.tables import PaymentRecord


def upsert_payment(session: Session, state: PaymentState) -> None:
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
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PaymentRecord).values(**row)
    changed = {k: statement.excluded[k] for k in row if k not in ("payment_id", "created_at")}
    # A late, abandoned activity attempt must not overwrite a newer state with an older one.
    newer = PaymentRecord.updated_at <= statement.excluded.updated_at
    session.execute(
        statement.on_conflict_do_update(index_elements=["payment_id"], set_=changed, where=newer)
    )
