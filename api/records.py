"""What the API stores itself, with no saga: connected accounts (where payouts go) and plans
(what subscriptions are sold on). The SQL is ``schemas/store/records.py``."""

import re
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from typing import Generic
from typing import TypeVar

from fastapi import Response
from fastapi import status
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlmodel import Session

from api.dependencies import run_transaction
from api.idempotency import Idempotent
from api.idempotency import json_response
from api.problems import Problem
from schemas.identity import ACCOUNT_ID
from schemas.identity import PLAN_ID
from schemas.identity import new_account_id
from schemas.identity import new_plan_id
from schemas.store import records
from schemas.store.quotas import enforce_quota
from schemas.tenants import QuotaKind
from schemas.tenants import TenantQuotas

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class Resource(Generic[Model]):
    records: records.Records[Model]
    id_pattern: re.Pattern[str]
    new_id: Callable[[], str]
    not_found: str
    quota: QuotaKind

    async def find(self, session: Session, tenant: str, key: str) -> Model:
        """404 ``not_found`` unless it is one of the tenant's (another tenant's is as
        missing as one that never was)."""
        found = None
        if self.id_pattern.match(key):
            found = await run_transaction(session, self.records.get, tenant, key)
        if found is None:
            raise Problem(self.not_found)
        return found

    async def newest(self, session: Session, tenant: str, limit: int) -> list[Model]:
        return await run_transaction(session, self.records.newest, tenant, limit)

    async def create(
        self,
        session: Session,
        once: Idempotent,
        quotas: TenantQuotas,
        sent: BaseModel,
        fields: dict[str, Any],
        made_elsewhere: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
    ) -> Response:
        """201 with the new resource; a retry under the same Idempotency-Key finds the one
        the first request stored (same id). ``made_elsewhere(id)``, when given, makes it
        where it also lives (its provider) first and answers the fields to store: if it
        fails, nothing is stored. A tenant at its quota gets 409 ``quota_exceeded``, asked
        before ``made_elsewhere`` and counted again with the insert."""

        def insert(connection: Connection, row: dict[str, Any]) -> Model:
            enforce_quota(connection, once.tenant, self.quota, quotas, row[self.records.key])
            return self.records.insert(connection, row)

        async def store(key: str) -> Response:
            if made_elsewhere is not None:
                await run_transaction(session, enforce_quota, once.tenant, self.quota, quotas, key)
            made = fields if made_elsewhere is None else await made_elsewhere(key)
            row = made | {self.records.key: key, "tenant_id": once.tenant}
            row["created_at"] = datetime.now(UTC)
            stored = await run_transaction(session, insert, row)
            return json_response(stored, status.HTTP_201_CREATED)

        return await once.create(store, sent, self.new_id)


CONNECTED_ACCOUNTS = Resource(
    records.CONNECTED_ACCOUNTS,
    ACCOUNT_ID,
    new_account_id,
    "connected_account_not_found",
    "connected_accounts",
)
PLANS = Resource(records.PLANS, PLAN_ID, new_plan_id, "plan_not_found", "plans")
