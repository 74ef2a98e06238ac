"""Dependencies injected into the routes: settings, database session, Temporal client, tenant,
and the request's Idempotency-Key."""

import asyncio
from collections.abc import Callable
from collections.abc import Iterator
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
                    try:
                        self._client = await connect(self._settings)
                    except Exception as e:
                        raise outage("temporal_unavailable", e) from e
        return self._client


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


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


def get_temporal_connection(request: Request) -> TemporalConnection:
    """For routes that need Temporal only on some paths (it connects on first ``get``)."""
    return request.app.state.temporal


def get_idempotency(request: Request) -> IdempotencyStore:
    return request.app.state.idempotency


def get_providers(request: Request) -> dict[str, PaymentProvider]:
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
    store: IdempotencyDep,
    key: Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)],
) -> Idempotent:
    return Idempotent(store, request, tenant, key)


OptionalIdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


async def optionally_idempotent(
    request: Request, tenant: TenantDep, store: IdempotencyDep, key: OptionalIdempotencyKey = None
) -> Idempotent:
    return Idempotent(store, request, tenant, key)


IdempotentDep = Annotated[Idempotent, Depends(idempotent)]
OptionallyIdempotentDep = Annotated[Idempotent, Depends(optionally_idempotent)]
