"""Customers and their saved payment methods in SQL. Every function runs in the caller's
transaction; another tenant's row is as missing as one never made."""

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy import update

from schemas.customers import Customer
from schemas.customers import RecordedMethod
from schemas.customers import SavedPaymentMethod
from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.tables import CustomerRecord
from schemas.store.tables import SavedPaymentMethodRecord

_CUSTOMERS = CustomerRecord.__table__
_METHODS = SavedPaymentMethodRecord.__table__


def _customer(row: Any) -> Customer:
    fields = dict(row)
    fields["provider_customers"] = json.loads(fields.pop("provider_customers_json"))
    fields["created_at"], fields["updated_at"] = (
        as_utc(fields["created_at"]),
        as_utc(fields["updated_at"]),
    )
    return Customer.model_validate(fields)


def _method(row: Any) -> SavedPaymentMethod:
    fields = dict(row)
    fields["created_at"] = as_utc(fields["created_at"])
    fields["detached_at"] = as_utc(fields["detached_at"])
    return SavedPaymentMethod.model_validate(fields)


def insert_customer(connection: Connection, row: dict[str, Any]) -> Customer:
    """Store it; a retry under the same id (its Idempotency-Key) finds the first one."""
    stored = dict(row, provider_customers_json="{}")
    statement = dialect_insert(connection.dialect.name, _CUSTOMERS).on_conflict_do_nothing(
        index_elements=["customer_id"]
    )
    connection.execute(statement, stored)
    found = get_customer(connection, row["tenant_id"], row["customer_id"])
    assert found is not None, "a customer with this id exists"
    return found


def get_customer(connection: Connection, tenant_id: str, customer_id: str) -> Customer | None:
    row = (
        connection.execute(
            select(_CUSTOMERS).where(
                _CUSTOMERS.c.customer_id == customer_id, _CUSTOMERS.c.tenant_id == tenant_id
            )
        )
        .mappings()
        .first()
    )
    return _customer(row) if row else None


def newest_customers(connection: Connection, tenant_id: str, limit: int) -> list[Customer]:
    rows = connection.execute(
        select(_CUSTOMERS)
        .where(_CUSTOMERS.c.tenant_id == tenant_id)
        .order_by(_CUSTOMERS.c.created_at.desc(), _CUSTOMERS.c.customer_id)
        .limit(limit)
    ).mappings()
    return [_customer(row) for row in rows]


def update_customer(
    connection: Connection, customer: Customer, changes: dict[str, Any], now: datetime
) -> Customer:
    values = dict(changes, updated_at=now)
    if "provider_customers" in values:
        values["provider_customers_json"] = json.dumps(values.pop("provider_customers"))
    connection.execute(
        update(_CUSTOMERS)
        .where(
            _CUSTOMERS.c.customer_id == customer.customer_id,
            _CUSTOMERS.c.tenant_id == customer.tenant_id,
        )
        .values(**values)
    )
    found = get_customer(connection, customer.tenant_id, customer.customer_id)
    assert found is not None
    return found


def insert_method(connection: Connection, method: SavedPaymentMethod) -> SavedPaymentMethod:
    statement = dialect_insert(connection.dialect.name, _METHODS).on_conflict_do_nothing(
        index_elements=["payment_method_id"]
    )
    connection.execute(statement, method.model_dump())
    found = get_method(connection, method.tenant_id, method.customer_id, method.payment_method_id)
    assert found is not None, "a saved method with this id exists"
    return found


def record_method(
    connection: Connection, method: SavedPaymentMethod, make_default: bool, now: datetime
) -> RecordedMethod:
    """Where a saga saving a method got to (a replayed step writes the same row). An active
    method becomes the customer's default when asked to, or when it has none."""
    table = _METHODS
    values = method.model_dump()
    statement = dialect_insert(connection.dialect.name, table)
    changed = {k: v for k, v in values.items() if k not in ("payment_method_id", "created_at")}
    connection.execute(
        statement.on_conflict_do_update(index_elements=["payment_method_id"], set_=changed),
        values,
    )
    became_default = False
    if method.status == "active":
        customer = get_customer(connection, method.tenant_id, method.customer_id)
        assert customer is not None, "a method is saved for an existing customer"
        if make_default or customer.default_payment_method is None:
            changes = {"default_payment_method": method.payment_method_id}
            update_customer(connection, customer, changes, now)
            became_default = customer.default_payment_method != method.payment_method_id
    return RecordedMethod(method=method, became_default=became_default)


def get_method(
    connection: Connection, tenant_id: str, customer_id: str, payment_method_id: str
) -> SavedPaymentMethod | None:
    """A method of this customer (another customer's is as missing as one never saved)."""
    row = (
        connection.execute(
            select(_METHODS).where(
                _METHODS.c.payment_method_id == payment_method_id,
                _METHODS.c.customer_id == customer_id,
                _METHODS.c.tenant_id == tenant_id,
            )
        )
        .mappings()
        .first()
    )
    return _method(row) if row else None


def methods_of(
    connection: Connection, tenant_id: str, customer_id: str
) -> list[SavedPaymentMethod]:
    """The customer's active methods, oldest first."""
    rows = connection.execute(
        select(_METHODS)
        .where(
            _METHODS.c.customer_id == customer_id,
            _METHODS.c.tenant_id == tenant_id,
            _METHODS.c.status == "active",
        )
        .order_by(_METHODS.c.created_at, _METHODS.c.payment_method_id)
    ).mappings()
    return [_method(row) for row in rows]


def detach_method(
    connection: Connection, method: SavedPaymentMethod, now: datetime
) -> SavedPaymentMethod:
    connection.execute(
        update(_METHODS)
        .where(_METHODS.c.payment_method_id == method.payment_method_id)
        .values(status="detached", detached_at=now)
    )
    connection.execute(
        update(_CUSTOMERS)
        .where(
            _CUSTOMERS.c.customer_id == method.customer_id,
            _CUSTOMERS.c.default_payment_method == method.payment_method_id,
        )
        .values(default_payment_method=None, updated_at=now)
    )
    return method.model_copy(update={"status": "detached", "detached_at": now})
