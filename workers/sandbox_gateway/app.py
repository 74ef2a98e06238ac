"""HTTP routes of the sandbox gateway (the contract other parts code against)."""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException

from workers.sandbox_gateway import challenge, charges
from workers.sandbox_gateway.bodies import (
    AmountBody,
    ChallengeOutcome,
    CreateCharge,
    EmptyBody,
    parse,
)
from workers.sandbox_gateway.errors import GatewayError, invalid_request
from workers.sandbox_gateway.faults import FaultConfig, Faults, Operation
from workers.sandbox_gateway.idempotency import Answer, IdempotentExecutor, Outcome
from workers.sandbox_gateway.store import Store, Tx

log = logging.getLogger("sandbox_gateway")


def create_app(
    db_path: str,
    public_url: str | None = None,
    seed: int | None = None,
    faults: FaultConfig | None = None,
) -> FastAPI:
    store = Store(db_path)
    fault_injector = Faults(faults, seed)
    executor = IdempotentExecutor(store, fault_injector)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(title="paysaga sandbox gateway", lifespan=lifespan)
    app.state.store, app.state.faults = store, fault_injector
    _install_error_handlers(app)

    def base_url(request: Request) -> str:
        return (public_url or str(request.base_url)).rstrip("/")

    async def money_moving(
        request: Request, operation: Operation, payload: dict, apply: Callable[[Tx], Answer]
    ) -> Response:
        key = request.headers.get("Idempotency-Key", "").strip()
        if not key:
            raise invalid_request(
                "idempotency_key_required", "an Idempotency-Key header is required"
            )
        if len(key) > 255:
            raise invalid_request("parameter_invalid", "Idempotency-Key is too long")
        outcome = await executor.execute(
            method=request.method,
            path=request.url.path,
            key=key,
            payload=payload,
            operation=operation,
            apply=apply,
        )
        return _respond(outcome)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.post("/v1/charges")
    async def create_charge(request: Request) -> Response:
        body = await parse(request, CreateCharge)
        url = base_url(request)
        return await money_moving(
            request,
            "charge",
            body.model_dump(mode="json"),
            lambda tx: charges.create(tx, body, url),
        )

    @app.post("/v1/charges/{charge_id}/capture")
    async def capture(charge_id: str, request: Request) -> Response:
        body = await parse(request, AmountBody)
        return await money_moving(
            request,
            "capture",
            body.model_dump(mode="json"),
            lambda tx: charges.capture(tx, charge_id, body.amount),
        )

    @app.post("/v1/charges/{charge_id}/void")
    async def void(charge_id: str, request: Request) -> Response:
        await parse(request, EmptyBody)
        return await money_moving(request, "void", {}, lambda tx: charges.void(tx, charge_id))

    @app.post("/v1/charges/{charge_id}/refund")
    async def refund(charge_id: str, request: Request) -> Response:
        body = await parse(request, AmountBody)
        return await money_moving(
            request,
            "refund",
            body.model_dump(mode="json"),
            lambda tx: charges.refund(tx, charge_id, body.amount),
        )

    @app.post("/v1/charges/{charge_id}/confirm")
    async def confirm(charge_id: str, request: Request) -> Response:
        await parse(request, EmptyBody)
        return await money_moving(request, "confirm", {}, lambda tx: charges.confirm(tx, charge_id))

    @app.get("/v1/charges/{charge_id}")
    async def get_charge(charge_id: str) -> dict:
        return await asyncio.to_thread(_in_tx, store, lambda tx: charges.get(tx, charge_id))

    @app.get("/v1/charges/{charge_id}/3ds", response_class=HTMLResponse)
    async def challenge_page(charge_id: str) -> HTMLResponse:
        charge = await asyncio.to_thread(_in_tx, store, lambda tx: charges.get(tx, charge_id))
        return HTMLResponse(challenge.page(charge))

    @app.post("/v1/charges/{charge_id}/3ds/complete")
    async def complete_challenge(charge_id: str, request: Request) -> dict:
        body = await parse(request, ChallengeOutcome)
        return await asyncio.to_thread(
            _in_tx, store, lambda tx: charges.complete_challenge(tx, charge_id, body.outcome)
        )

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


def _in_tx(store: Store, work: Callable[[Tx], dict]) -> dict:
    with store.transaction() as tx:
        return work(tx)


def _respond(outcome: Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return Response(
        outcome.body, status_code=outcome.status, media_type="application/json", headers=headers
    )


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
