"""The sandbox gateway's FastAPI app: charge and refund routes (``charge_routes``), transfer,
payout and balance routes (``connect_routes``), customers and their saved methods
(``customer_routes``), and the operator's: ``/healthz``,
``/v1/faults`` (GET, PUT, DELETE) and ``/v1/stats`` (applications per key and operation);
the test helpers that fail a refund or payout late and send its webhook (``late``). With a
``token``, all but the customer's pages need it (``credential``)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from workers.sandbox_gateway import charge_routes
from workers.sandbox_gateway import connect_routes
from workers.sandbox_gateway import customer_routes
from workers.sandbox_gateway import late
from workers.sandbox_gateway.bodies import parse
from workers.sandbox_gateway.credential import RequireToken
from workers.sandbox_gateway.errors import GatewayError
from workers.sandbox_gateway.errors import invalid_request
from workers.sandbox_gateway.faults import FaultConfig
from workers.sandbox_gateway.faults import Faults
from workers.sandbox_gateway.idempotency import IdempotentExecutor
from workers.sandbox_gateway.routing import Routing
from workers.sandbox_gateway.store import Store
from workers.sandbox_gateway.webhooks import Webhooks

log = logging.getLogger("sandbox_gateway")


def create_app(
    db_path: str,
    public_url: str | None = None,
    seed: int | None = None,
    faults: FaultConfig | None = None,
    webhooks: Webhooks | None = None,
    token: str | None = None,
) -> FastAPI:
    store = Store(db_path)
    fault_injector = Faults(faults, seed)
    routing = Routing(store, IdempotentExecutor(store, fault_injector))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    # FastAPI's native telemetry would look for providers on every request: the gateway has
    # none to find.
    app = FastAPI(
        title="paysaga sandbox gateway",
        lifespan=lifespan,
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.store, app.state.faults = store, fault_injector
    _install_error_handlers(app)
    if token is not None:
        app.add_middleware(RequireToken, token=token)
    app.include_router(charge_routes.router(routing, public_url))
    app.include_router(connect_routes.router(routing, public_url))
    app.include_router(customer_routes.router(routing))
    app.include_router(late.router(routing, webhooks))

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/v1/faults")
    async def get_faults() -> dict:
        return fault_injector.config.model_dump()

    @app.put("/v1/faults")
    async def put_faults(request: Request) -> dict:
        config = fault_injector.set(await parse(request, FaultConfig))
        log.warning("faults set: %s", config.model_dump_json())
        return config.model_dump()

    @app.delete("/v1/faults")
    async def delete_faults() -> dict:
        return fault_injector.reset().model_dump()

    @app.get("/v1/stats")
    async def stats() -> dict:
        return await asyncio.to_thread(store.stats)

    return app


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = invalid_request("parameter_invalid", "the request is not valid")
        return JSONResponse(error.body, status_code=error.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = "resource_missing" if exc.status_code == 404 else "invalid_request"
        error = invalid_request(code, str(exc.detail), status=exc.status_code)
        return JSONResponse(error.body, status_code=exc.status_code, headers=exc.headers)
