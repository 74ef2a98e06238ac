"""Dependencies injected into the routes: settings, database session, Temporal client, tenant,
and the request's Idempotency-Key."""

import asyncio
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Annotated
from typing import Concatenate
from typing import ParamSpec
from typing import TypeVar

from fastapi import Depends
from fastapi import Header
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from activities.providers.base import PaymentProvider
from api.auth import TenantDep
from api.idempotency import IdempotencyStore
from api.idempotency import Idempotent
from api.problems import outage
from schemas.runtime.settings import Settings
from schemas.runtime.temporal_client import connect
from schemas.runtime.tracing import CurrentSpanTracer
from schemas.runtime.tracing import spans_exported


class TemporalConnection:
    """Connects lazily, so the API starts (and /healthz answers) before Temporal is up."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    # With no span exported, the client's calls carry the request's trace
                    # on without making spans of their own.
                    tracer = None if spans_exported() else CurrentSpanTracer()
                    try:
                        self._client = await connect(self._settings, tracer=tracer)
                    except Exception as e:
                        raise outage("temporal_unavailable", e) from e
        return self._client


# The dependencies here are async although they never await: FastAPI runs a plain function
# (and a plain generator's two halves) in a worker thread, a thread hop each for nothing.
# Those on every request call the ones they need instead of declaring them, so FastAPI has
# fewer dependencies to solve per request.


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session is opened without I/O; its work runs in worker threads (``run_transaction``).
    Closed in one too if the route left a transaction open, whose rollback is a round trip."""
    session = Session(await get_engine(request), expire_on_commit=False)
    try:
        yield session
    finally:
        if session.in_transaction():
            await run_in_threadpool(session.close)
        else:
            session.close()


Result = TypeVar("Result")
Params = ParamSpec("Params")


def transact(
    session: Session,
    work: Callable[Concatenate[Connection, Params], Result],
    *args: Params.args,
    **kwargs: Params.kwargs,
) -> Result:
    """``work(connection, ...)`` in one short transaction of the request's session (the
    stores in ``schemas.store`` run in their caller's transaction)."""
    with session.begin():
        return work(session.connection(), *args, **kwargs)


async def run_transaction(
    session: Session,
    work: Callable[Concatenate[Connection, Params], Result],
    *args: Params.args,
    **kwargs: Params.kwargs,
) -> Result:
    """``transact`` in a worker thread: a busy SQLite waits there, not on the event loop."""
    return await run_in_threadpool(transact, session, work, *args, **kwargs)


async def get_temporal(request: Request) -> Client:
    return await request.app.state.temporal.get()


async def get_temporal_connection(request: Request) -> TemporalConnection:
    """For routes that need Temporal only on some paths (it connects on first ``get``)."""
    return request.app.state.temporal


async def get_idempotency(request: Request) -> IdempotencyStore:
    return request.app.state.idempotency


async def get_providers(request: Request) -> dict[str, PaymentProvider]:
    """The adapters whose webhooks this API verifies."""
    return request.app.state.providers


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
TemporalConnectionDep = Annotated[TemporalConnection, Depends(get_temporal_connection)]
IdempotencyDep = Annotated[IdempotencyStore, Depends(get_idempotency)]
EngineDep = Annotated[Engine, Depends(get_engine)]
ProvidersDep = Annotated[dict[str, PaymentProvider], Depends(get_providers)]


# Async: a sync dependency would run in a worker thread for nothing.
async def idempotent(
    request: Request,
    tenant: TenantDep,
    key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)],
) -> Idempotent:
    return Idempotent(await get_idempotency(request), request, tenant, key)


OptionalIdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


async def optionally_idempotent(
    request: Request, tenant: TenantDep, key: OptionalIdempotencyKey = None
) -> Idempotent:
    return Idempotent(await get_idempotency(request), request, tenant, key)


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]
OptionallyIdempotentDep = Annotated[Idempotent, Depends(optionally_idempotent)]
