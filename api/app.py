"""The FastAPI application: a thin layer that starts, updates and queries workflows."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.api_keys import KeyVerifier
from api.auth import check_auth_settings
from api.body_limit import BodyLimitMiddleware
from api.dependencies import TemporalConnection
from api.problems import install_problem_handlers
from api.routes import admin, health, ledger, payments
from schemas.database import create_schema, make_engine
from schemas.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    check_auth_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.engine = make_engine(settings.database_url)
        create_schema(app.state.engine)
        app.state.keys = KeyVerifier(app.state.engine)
        app.state.temporal = TemporalConnection(settings)
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="paysaga",
        version="0.1.0",
        description="Payments as durable Temporal sagas with compensations.",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    install_problem_handlers(app)
    app.include_router(health.router)
    app.include_router(payments.router)
    app.include_router(ledger.router)
    app.include_router(admin.router)
    return app
