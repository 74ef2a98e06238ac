"""The read model: one row per payment, refund, payout, installment plan and subscription,
upserted by its saga on every state change and read by the API (lists, and any saga whose
workflow has closed or is gone after Temporal's retention), reconciliation and reports.

A row is the state's JSON plus the columns it is found by. Each column takes the state's
field of the same name (an enum its value), so a new queryable column is a table column and
a migration, nothing more.

Every function runs in the caller's transaction (the API passes ``session.connection()``).
"""

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any
from typing import Generic
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy import Insert
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import or_
from sqlalchemy import select
from sqlmodel import SQLModel

from schemas.disputes import DisputeState
from schemas.installments import InstallmentPlanState
from schemas.payments import PaymentState
from schemas.payouts import PayoutState
from schemas.refunds import RefundState
from schemas.store.database import dialect_insert
from schemas.store.events import record_change
from schemas.store.risk_labels import record_labels
from schemas.store.tables import DisputeRecord
from schemas.store.tables import InstallmentPlanRecord
from schemas.store.tables import PaymentRecord
from schemas.store.tables import PayoutRecord
from schemas.store.tables import RefundRecord
from schemas.store.tables import SubscriptionRecord
from schemas.subscriptions import SubscriptionState

State = TypeVar("State", bound=BaseModel)


@dataclass(frozen=True)
class ReadModel(Generic[State]):
    """Where one kind of saga keeps its state: the table, its key (also the state's id
    field) and the state's model. ``derived`` computes the columns whose value is not a
    field of the state of the same name."""

    record: type[SQLModel]
    key: str
    state: type[State]
    # What its events name the object (``schemas.domain.events``); None: it makes none.
    object_type: str | None = None
    # Whether one object can make the same event type more than once (a subscription's
    # ``updated``): then which events a change makes depends on the status stored before
    # it, read first. Otherwise (a payment succeeds once) the event's id alone keeps each
    # single, and the write costs no read.
    events_repeat: bool = True
    derived: dict[str, Callable[[Any], Any]] = field(default_factory=dict)

    @property
    def table(self) -> Table:
        return self.record.__table__

    def row(self, state: State) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for column in self.table.columns.keys():
            if column == "state_json":
                row[column] = state.model_dump_json()
            elif column in self.derived:
                row[column] = self.derived[column](state)
            else:
                value = getattr(state, column)
                row[column] = value.value if isinstance(value, Enum) else value
        return row

    def upsert(self, connection: Connection, state: State) -> None:
        """Insert the row, or update it unless the stored one is newer (a late, abandoned
        activity attempt must not overwrite a newer state with an older one). The key and
        ``created_at`` never change. The change's events are written with it."""
        row = self.row(state)
        upsert = _upsert(connection.dialect.name, self.table, self.key)
        if self.object_type is None:
            connection.execute(upsert, row)
            return
        key = row[self.key]
        previous = None
        if self.events_repeat:
            stored = connection.execute(_stored_status(self.table, self.key), {"key": key})
            previous = stored.scalar()
        # RETURNING, not rowcount (psycopg reports -1): no row when the stored state is newer.
        written = connection.execute(_upsert_returning(upsert, self.table, self.key), row)
        if written.first() is not None:
            record_change(
                connection,
                self.object_type,
                key,
                previous,
                state,
                row["state_json"],
                once_per_type=not self.events_repeat,
            )

    def get(
        self, connection: Connection, tenant_id: str, key: str, *, lock: bool = False
    ) -> State | None:
        """The state as last recorded; another tenant's is as missing as one never made.
        ``lock``: the row stays locked until the transaction ends (``SELECT … FOR UPDATE``;
        SQLite's ``BEGIN IMMEDIATE`` already serializes every writer)."""
        query = select(self.table.c.state_json).where(
            self.table.c[self.key] == key, self.table.c.tenant_id == tenant_id
        )
        state_json = connection.execute(query.with_for_update() if lock else query).scalar()
        return self.state.model_validate_json(state_json) if state_json else None

    def newest(
        self, connection: Connection, tenant_id: str, limit: int, **equal: Any
    ) -> list[State]:
        """The tenant's states, newest first; ``equal`` filters columns (None: no filter)."""
        columns = self.table.c
        query = select(columns.state_json).where(columns.tenant_id == tenant_id)
        for column, value in equal.items():
            if value is not None:
                query = query.where(columns[column] == value)
        query = query.order_by(columns.created_at.desc(), columns[self.key]).limit(limit)
        return [self.state.model_validate_json(row) for row in connection.execute(query).scalars()]

    def page(
        self,
        connection: Connection,
        tenant_id: str,
        limit: int,
        after: tuple[datetime, str] | None = None,
        **equal: Any,
    ) -> tuple[list[State], tuple[datetime, str] | None]:
        """Newest first, keyset-paginated on ``(created_at, key)``: up to ``limit`` states
        after the position ``after``, and the position of the last one when more follow.
        ``equal`` filters columns (None: no filter)."""
        columns = self.table.c
        query = select(columns.state_json, columns.created_at, columns[self.key]).where(
            columns.tenant_id == tenant_id
        )
        for column, value in equal.items():
            if value is not None:
                query = query.where(columns[column] == value)
        if after is not None:
            created_at, key = after
            query = query.where(
                or_(
                    columns.created_at < created_at,
                    and_(columns.created_at == created_at, columns[self.key] < key),
                )
            )
        query = query.order_by(columns.created_at.desc(), columns[self.key].desc())
        rows = connection.execute(query.limit(limit + 1)).mappings().all()
        states = [self.state.model_validate_json(row["state_json"]) for row in rows[:limit]]
        if len(rows) <= limit:
            return states, None
        last = rows[limit - 1]
        return states, (last["created_at"], last[self.key])


@cache
def _stored_status(table: Table, key: str) -> Select:
    # Locked until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE already
    # serializes writers), so two writers of one object see each other's status.
    return select(table.c.status).where(table.c[key] == bindparam("key")).with_for_update()


@cache
def _upsert_returning(upsert: Insert, table: Table, key: str) -> Insert:
    return upsert.returning(table.c[key])


@cache
def _upsert(dialect_name: str, table: Table, key: str) -> Insert:
    # Built once per table and dialect and executed with parameters: a statement rebuilt with
    # literal values on every call cost more Python time than the SQL itself (bench profile).
    statement = dialect_insert(dialect_name, table)
    changed = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in (key, "created_at")
    }
    newer = table.c.updated_at <= statement.excluded.updated_at
    return statement.on_conflict_do_update(index_elements=[key], set_=changed, where=newer)


PAYMENTS = ReadModel(PaymentRecord, "payment_id", PaymentState, "payment", events_repeat=False)
REFUNDS = ReadModel(RefundRecord, "refund_id", RefundState, "refund", events_repeat=False)
PAYOUTS = ReadModel(PayoutRecord, "payout_id", PayoutState, "payout", events_repeat=False)
DISPUTES = ReadModel(DisputeRecord, "dispute_id", DisputeState, "dispute")
INSTALLMENT_PLANS = ReadModel(
    InstallmentPlanRecord, "installment_plan_id", InstallmentPlanState, "installment_plan"
)
SUBSCRIPTIONS = ReadModel(
    SubscriptionRecord,
    "subscription_id",
    SubscriptionState,
    "subscription",
    derived={"plan_id": lambda state: state.plan.plan_id},
)


def upsert_payment(connection: Connection, state: PaymentState) -> None:
    PAYMENTS.upsert(connection, state)
    # A review verdict or a dispute becomes a training label in the same transaction.
    record_labels(connection, state)
