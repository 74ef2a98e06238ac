"""Rows whose columns are a model's fields, written by the API and read by both processes:
connected accounts (where payouts go) and subscription plans.

Every function runs in the caller's transaction (the API passes ``session.connection()``).
"""

from dataclasses import dataclass
from typing import Any
from typing import Generic
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import ColumnElement
from sqlalchemy import Connection
from sqlalchemy import Table
from sqlalchemy import select
from sqlalchemy import update
from sqlmodel import SQLModel

from schemas.payouts import ConnectedAccount
from schemas.provider import ProviderAccount
from schemas.store.database import dialect_insert
from schemas.store.tables import ConnectedAccountRecord
from schemas.store.tables import PlanRecord
from schemas.subscriptions import Plan

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Records(Generic[Model]):
    record: type[SQLModel]
    key: str
    model: type[Model]

    @property
    def table(self) -> Table:
        return self.record.__table__

    def get(self, connection: Connection, tenant_id: str, key: str) -> Model | None:
        """Another tenant's row is as missing as one never made."""
        columns = self.table.c
        return self.first(connection, columns[self.key] == key, columns.tenant_id == tenant_id)

    def first(self, connection: Connection, *where: ColumnElement[bool]) -> Model | None:
        row = connection.execute(select(self.table).where(*where)).mappings().first()
        return self._model(row) if row else None

    def newest(self, connection: Connection, tenant_id: str, limit: int) -> list[Model]:
        columns = self.table.c
        rows = connection.execute(
            select(self.table)
            .where(columns.tenant_id == tenant_id)
            .order_by(columns.created_at.desc(), columns[self.key])
            .limit(limit)
        ).mappings()
        return [self._model(row) for row in rows]

    def insert(self, connection: Connection, row: dict[str, Any]) -> Model:
        """Store the row; a retry under the same id (its Idempotency-Key) finds the one
        stored the first time."""
        statement = (
            dialect_insert(connection.dialect.name, self.table)
            .on_conflict_do_nothing(index_elements=[self.key])
            .returning(self.table.c[self.key])
        )
        if connection.execute(statement, row).first() is not None:
            return self._model(row)
        stored = self.get(connection, row["tenant_id"], row[self.key])
        assert stored is not None, "a row with this key exists"
        return stored

    def _model(self, row) -> Model:
        return self.model.model_validate({name: row[name] for name in self.model.model_fields})


CONNECTED_ACCOUNTS = Records(ConnectedAccountRecord, "account_id", ConnectedAccount)


def account_at_provider(
    connection: Connection, provider: str, reference: str
) -> ConnectedAccount | None:
    """The connected account the provider knows as ``reference`` (a webhook names it so)."""
    columns = CONNECTED_ACCOUNTS.table.c
    return CONNECTED_ACCOUNTS.first(
        connection, columns.provider == provider, columns.provider_account_id == reference
    )


def update_standing(
    connection: Connection, tenant_id: str, account_id: str, standing: ProviderAccount
) -> ConnectedAccount | None:
    """Store what the provider says of the account now; the account after, or None."""
    table = CONNECTED_ACCOUNTS.table
    connection.execute(
        update(table)
        .where(table.c.account_id == account_id, table.c.tenant_id == tenant_id)
        .values(**standing_fields(standing))
    )
    return CONNECTED_ACCOUNTS.get(connection, tenant_id, account_id)


def standing_fields(standing: ProviderAccount) -> dict[str, Any]:
    """The columns of a connected account that the provider decides."""
    return {"provider_account_id": standing.reference} | standing.model_dump(
        include={"charges_enabled", "payouts_enabled", "requirements_due", "disabled_reason"}
    )


PLANS = Records(PlanRecord, "plan_id", Plan)
