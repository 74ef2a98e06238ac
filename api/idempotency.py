"""Idempotency-Key like Stripe's: the first response is stored and replayed.

Same key and same request: the stored status and body again, with ``Idempotent-Replayed:
true``. Same key, another request (method, path or body): 422 ``idempotency_mismatch``.
While a request with the key executes, another one gets 409 ``idempotency_in_progress``.

Only final answers are stored. A 5xx, or the 202 of a payment whose saga is still running,
releases the key instead: a retry runs again under the same resource id, so it joins the same saga
and never creates a second payment. A request that died holding the key (process killed)
leaves a lock that goes stale after the request timeout, and the next retry takes over.
Keys are kept for ``idempotency_retention`` (at least 24 h), then may be used again.
"""

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update

from api.problems import PROBLEM_JSON
from api.problems import Problem
from schemas.store.database import as_utc
from schemas.store.database import dialect_insert
from schemas.store.tables import IdempotentRequest

REPLAYED = "Idempotent-Replayed"
# Past the request timeout a lock can only belong to a request that is gone.
LOCK_MARGIN = timedelta(seconds=5)
requests_table = IdempotentRequest.__table__
# The statements every keyed request runs, built once: building one costs more than running it
# (SQLite). Their SET and VALUES clauses come from the parameters they are executed with.
_RELEASE_OR_STORE = update(requests_table).where(
    requests_table.c.tenant_id == bindparam("holder_tenant_id"),
    requests_table.c.key == bindparam("holder_key"),
    requests_table.c.locked_by == bindparam("holder_token"),
)


@dataclass(frozen=True)
class Claim:
    """The key is ours to execute under: ``resource_id`` is the first request's."""

    resource_id: str | None
    token: str


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def fingerprint(request: Request, body: BaseModel | None) -> str:
    canonical = json.dumps(
        [request.method, request.url.path, body.model_dump(mode="json") if body else None],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyStore:
    def __init__(self, engine: Engine, retention: timedelta, lock_timeout: timedelta) -> None:
        self._engine = engine
        self._retention = retention
        self._lock_timeout = lock_timeout
        self._insert_new = (
            dialect_insert(engine.dialect.name, requests_table)
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT that returns rows.
            .returning(requests_table.c.id)
        )

    def claim(
        self, tenant_id: str, key: str, request_fingerprint: str, new_resource_id: str | None
    ) -> Claim | Replay:
        """One transaction: claim the key, or learn what the request under it became.

        Every takeover is an UPDATE conditioned on the row's current lock token, so when
        two requests race for a released or stale key exactly one of them wins.
        """
        now = datetime.now(UTC)
        token = uuid.uuid4().hex
        fresh = {
            "fingerprint": request_fingerprint,
            "resource_id": new_resource_id,
            "created_at": now,
            "locked_by": token,
            "locked_at": now,
        }
        with self._engine.begin() as connection:
            inserted = connection.execute(
                self._insert_new, {"tenant_id": tenant_id, "key": key, **fresh}
            )
            if inserted.first() is not None:
                return Claim(new_resource_id, token)
            row = connection.execute(
                select(requests_table).where(
                    requests_table.c.tenant_id == tenant_id, requests_table.c.key == key
                )
            ).one()
            same_row = (requests_table.c.id == row.id) & (
                requests_table.c.locked_by.is_(None)
                if row.locked_by is None
                else requests_table.c.locked_by == row.locked_by
            )
            if as_utc(row.created_at) <= now - self._retention:
                # Past the retention window the key is free: a new request, a new resource.
                taken = connection.execute(
                    update(requests_table)
                    .where(same_row)
                    .values(**fresh, response_status=None, response_body=None)
                ).rowcount
                if taken:
                    return Claim(new_resource_id, token)
                raise _in_progress()
            if row.fingerprint != request_fingerprint:
                raise Problem(
                    "idempotency_mismatch",
                    "this key was first used with another request; use a new key for a new request",
                )
            if row.response_status is not None:
                return Replay(row.response_status, row.response_body or "")
            if row.locked_by is not None and as_utc(row.locked_at) > now - self._lock_timeout:
                raise _in_progress()
            taken = connection.execute(
                update(requests_table).where(same_row).values(locked_by=token, locked_at=now)
            ).rowcount
            if not taken:
                raise _in_progress()
            return Claim(row.resource_id, token)

    def finish(
        self, tenant_id: str, key: str, token: str, response: Response | None, replay_202: bool
    ) -> None:
        """Store the answer (``None``: release the key for a retry); only while still ours."""
        values: dict = {"locked_by": None, "locked_at": None}
        if response is not None and _replayable(response.status_code, replay_202):
            values |= {
                "response_status": response.status_code,
                "response_body": bytes(response.body).decode(),
            }
        holder = {"holder_tenant_id": tenant_id, "holder_key": key, "holder_token": token}
        with self._engine.begin() as connection:
            connection.execute(_RELEASE_OR_STORE, holder | values)

    def purge_expired(self) -> int:
        cutoff = datetime.now(UTC) - self._retention
        with self._engine.begin() as connection:
            return connection.execute(
                delete(requests_table).where(requests_table.c.created_at <= cutoff)
            ).rowcount


def _replayable(status: int, replay_202: bool) -> bool:
    return status < 500 and (replay_202 or status != 202)


def _in_progress() -> Problem:
    return Problem(
        "idempotency_in_progress",
        "retry after it has finished; it will then be replayed",
        headers={"Retry-After": "1"},
    )


Handler = Callable[[str | None], Awaitable[Response]]


async def execute_once(
    store: IdempotencyStore,
    tenant_id: str,
    key: str,
    request_fingerprint: str,
    handler: Handler,
    new_resource_id: str | None = None,
    replay_202: bool = True,
) -> Response:
    """Run ``handler(resource id)`` at most once per key and answer as the first run did.

    ``replay_202=False`` where a 202 means "still running": a retry then asks again and
    sees where the work got to, instead of the first, stale answer.
    """
    outcome = await run_in_threadpool(
        store.claim, tenant_id, key, request_fingerprint, new_resource_id
    )
    if isinstance(outcome, Replay):
        media_type = PROBLEM_JSON if outcome.status >= 400 else "application/json"
        return Response(
            outcome.body, outcome.status, media_type=media_type, headers={REPLAYED: "true"}
        )
    try:
        response = await handler(outcome.resource_id)
    except Problem as problem:
        response = problem.response()  # a refusal is an answer too, replayed like any other
    except BaseException:
        # Cancelled (request timeout, client gone) or a bug: free the key for a retry now,
        # even while this task is being cancelled.
        await asyncio.shield(
            run_in_threadpool(store.finish, tenant_id, key, outcome.token, None, replay_202)
        )
        raise
    await run_in_threadpool(store.finish, tenant_id, key, outcome.token, response, replay_202)
    return response


@dataclass(frozen=True)
class Idempotent:
    """A request and its Idempotency-Key (a route gets it as ``IdempotentDep``, or as
    ``OptionallyIdempotentDep`` where the key is optional: without one the work runs every
    time)."""

    store: IdempotencyStore
    request: Request
    tenant: str
    key: str | None

    async def run(
        self, work: Callable[[], Awaitable[Response]], sent: BaseModel | None
    ) -> Response:
        """``sent``: the body the key is bound to (another body under it is a 422)."""
        if self.key is None:
            return await work()
        return await execute_once(
            self.store, self.tenant, self.key, fingerprint(self.request, sent), lambda _: work()
        )

    async def create(
        self,
        work: Callable[[str], Awaitable[Response]],
        sent: BaseModel,
        new_id: Callable[[], str],
        *,
        replay_202: bool = True,
    ) -> Response:
        """``work(resource id)``: a new id, or the first request's under this key, so a
        retry finds (or joins) what the first one made."""
        if self.key is None:
            return await work(new_id())
        return await execute_once(
            self.store,
            self.tenant,
            self.key,
            fingerprint(self.request, sent),
            lambda resource_id: work(str(resource_id)),
            new_resource_id=new_id(),
            replay_202=replay_202,
        )


def json_response(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status, media_type="application/json")
