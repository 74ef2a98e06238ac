"""What every route shares: idempotent execution of money-moving POSTs, and reads."""

import asyncio
from collections.abc import Callable
from typing import Annotated
from typing import Any
from typing import TypeVar

from fastapi import APIRouter
from fastapi import Query
from fastapi import Request
from fastapi.responses import Response

from workers.sandbox_gateway.bodies import RequestBody
from workers.sandbox_gateway.bodies import parse
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.faults import Operation
from workers.sandbox_gateway.idempotency import Answer
from workers.sandbox_gateway.idempotency import IdempotentExecutor
from workers.sandbox_gateway.idempotency import Outcome
from workers.sandbox_gateway.store import Store
from workers.sandbox_gateway.store import Tx

Body = TypeVar("Body", bound=RequestBody)
Limit = Annotated[int, Query(ge=1, le=100)]


class Routing:
    def __init__(self, store: Store, executor: IdempotentExecutor) -> None:
        self.store = store
        self._executor = executor

    async def money_moving(
        self,
        request: Request,
        operation: Operation,
        model: type[Body],
        apply: Callable[[Tx, Body], Answer],
    ) -> Response:
        """The body parsed as ``model``, applied once per ``Idempotency-Key`` (required, bound
        to the body's ``idempotency_payload()``), the stored answer replayed after."""
        body = await parse(request, model)
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise invalid_request(
                "idempotency_key_required", "an Idempotency-Key header is required"
            )
        if len(key) > 255:
            raise invalid_request("parameter_invalid", "Idempotency-Key is too long")
        outcome = await self._executor.execute(
            method=request.method,
            path=request.url.path,
            key=key,
            payload=body.idempotency_payload(),
            operation=operation,
            apply=lambda tx: apply(tx, body),
        )
        return _respond(outcome)

    async def read(self, work: Callable[[Tx], dict[str, Any]]) -> dict[str, Any]:
        """``work`` in one store transaction, off the event loop (a test helper's writes
        too: they are not idempotent requests)."""
        return await asyncio.to_thread(self._in_tx, work)

    def add_lookups(
        self,
        api: APIRouter,
        collection: str,
        get: Callable[[Tx, str], dict[str, Any]],
        find: Callable[[Tx, str | None, int], dict[str, Any]],
    ) -> None:
        """``GET /v1/<collection>/{id}`` answered by ``get``, and ``GET /v1/<collection>``
        (``?reference=&limit=``, newest first) by ``find``."""

        @api.get(f"/v1/{collection}")
        async def find_by_reference(reference: str | None = None, limit: Limit = 100) -> dict:
            return await self.read(lambda tx: find(tx, reference, limit))

        @api.get(f"/v1/{collection}/{{object_id}}")
        async def get_by_id(object_id: str) -> dict:
            return await self.read(lambda tx: get(tx, object_id))

    def _in_tx(self, work: Callable[[Tx], dict[str, Any]]) -> dict[str, Any]:
        with self.store.transaction() as tx:
            return work(tx)


def _respond(outcome: Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(
        outcome.body, status_code=outcome.status, media_type="application/json", headers=headers
    )
