"""Payments behind failed requests: a POST that timed out or answered 5xx may still have
started its saga (the key was claimed, the workflow started, only the answer was lost).

Those payments move money too, so the run's verification must cover them. Their ids come
from the API's idempotency table, and a workflow that exists was started.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlmodel import Session
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from schemas.identity import payment_workflow_id
from schemas.store.tables import IdempotentRequest
from workers.tools.bench.drivers import TENANT


def claimed_payment_ids(engine: Engine, keys: list[str]) -> dict[str, str]:
    """Idempotency-Key → payment id, for the keys the API claimed."""
    found: dict[str, str] = {}
    with Session(engine) as session:
        # Chunked: SQLite limits the number of bound parameters.
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = session.exec(
                select(IdempotentRequest.key, IdempotentRequest.resource_id).where(
                    IdempotentRequest.tenant_id == TENANT, IdempotentRequest.key.in_(chunk)
                )
            ).all()
            found.update(dict(rows))
    return found


async def started_payment_ids(client: Client, payment_ids: list[str]) -> list[str]:
    """The payments whose workflow exists."""
    semaphore = asyncio.Semaphore(32)

    async def exists(payment_id: str) -> bool:
        handle = client.get_workflow_handle(payment_workflow_id(TENANT, payment_id))
        async with semaphore:
            try:
                await handle.describe()
            except RPCError as exc:
                if exc.status == RPCStatusCode.NOT_FOUND:
                    return False
                raise
        return True

    found = await asyncio.gather(*(exists(pid) for pid in payment_ids))
    return [pid for pid, started in zip(payment_ids, found, strict=True) if started]
