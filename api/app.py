"""The FastAPI application: a thin layer that starts, updates and queries workflows."""

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager

from fastapi import Depends
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from activities.providers.registry import build_providers
from api.api_keys import KeyVerifier
from api.api_keys import pepper_of
from api.auth import check_auth_settings
from api.body_limit import BodyLimitMiddleware
from api.codec import install_codec
from api.dependencies import TemporalConnection
from api.idempotency import LOCK_MARGIN
from api.idempotency import IdempotencyStore
from api.metrics import install_metrics
from api.metrics import refreshing_gauges
from api.openapi import install_openapi
from api.problems import install_problem_handlers
from api.query_parameters import reject_unknown_query_parameters
from api.rate_limit import FailedAuthThrottle
from api.rate_limit import RateLimiter
from api.rate_limit import ReportBuilds
from api.request_timeout import RequestTimeoutMiddleware
from api.routes import admin
from api.routes import connected_accounts
from api.routes import customers
from api.routes import disputes
from api.routes import email_settings
from api.routes import events
from api.routes import health
from api.routes import installment_plans
from api.routes import invoices
from api.routes import ledger
from api.routes import payments
from api.routes import payouts
from api.routes import paypal_return
from api.routes import plans
from api.routes import providers
from api.routes import reconciliation
from api.routes import refunds
from api.routes import reports
from api.routes import risk
from api.routes import subscriptions
from api.routes import webhook_endpoints
from api.routes import webhooks
from api.telemetry import install_tracing
from schemas.runtime.logs import configure_logging
from schemas.runtime.settings import Settings
from schemas.runtime.tracing import configure_tracing
from schemas.store.database import make_engine
from schemas.store.database import require_current_schema
from schemas.tenants import RateLimit

log = logging.getLogger("paysaga.api")
PURGE_EVERY_SECONDS = 3600


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    check_auth_settings(settings)
    configure_logging(settings, "api")
    configure_tracing("paysaga-api")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings
        app.state.engine = engine = make_engine(settings.database_url)
        # Migrations are run before the API starts (`paysaga db upgrade`), never by it.
        try:
            require_current_schema(engine)
        except Exception:
            engine.dispose()
            raise
        app.state.keys = KeyVerifier(engine, pepper_of(settings))
        app.state.auth_failures = FailedAuthThrottle(
            settings.auth_failures_per_prefix,
            settings.auth_failures_per_address,
            settings.auth_failure_refill.total_seconds(),
        )
        # The admin key's failures never share a bucket with tenants' keys, nor their limits.
        app.state.admin_auth_failures = FailedAuthThrottle(
            settings.admin_auth_failures_per_credential,
            settings.admin_auth_failures_per_address,
            settings.admin_auth_failure_window.total_seconds(),
        )
        app.state.webhook_rejections = FailedAuthThrottle(
            settings.webhook_rejections_per_address,
            settings.webhook_rejections_per_address,
            settings.auth_failure_refill.total_seconds(),
        )
        app.state.temporal = TemporalConnection(settings)
        app.state.rate_limiter = RateLimiter(
            engine,
            RateLimit(per_second=settings.rate_limit_per_second, burst=settings.rate_limit_burst),
        )
        app.state.report_builds = ReportBuilds(settings.reconciliation_reports_per_hour)
        app.state.idempotency = store = IdempotencyStore(
            engine, settings.idempotency_retention, settings.request_timeout + LOCK_MARGIN
        )
        app.state.providers = providers = build_providers(settings)
        purging = asyncio.create_task(_purge_expired_keys(store))
        async with refreshing_gauges(app, engine, settings.metrics_refresh_interval):
            yield
        purging.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purging
        for provider in providers.values():
            await provider.aclose()
        engine.dispose()

    app = FastAPI(
        title="paysaga",
        version="0.1.0",
        description="Payments as durable Temporal sagas with compensations.",
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown_query_parameters)],
        # operationId = the route function's name (create_payment), for clients and links.
        generate_unique_id_function=lambda route: route.name,
        # Request spans come from the OpenTelemetry instrumentation (api/telemetry.py) and
        # request metrics from our own registry (api/metrics.py): FastAPI's native telemetry
        # would only look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestTimeoutMiddleware, seconds=settings.request_timeout.total_seconds())
    install_problem_handlers(app)
    install_tracing(app, settings)
    install_metrics(app, settings)
    install_codec(app, settings)
    app.include_router(health.router)
    app.include_router(payments.router)
    app.include_router(refunds.router)
    app.include_router(connected_accounts.router)
    app.include_router(payouts.router)
    app.include_router(disputes.router)
    app.include_router(invoices.router)
    app.include_router(installment_plans.router)
    app.include_router(plans.router)
    app.include_router(customers.router)
    app.include_router(subscriptions.router)
    app.include_router(ledger.router)
    app.include_router(reports.router)
    app.include_router(reconciliation.router)
    app.include_router(risk.router)
    app.include_router(providers.router)
    app.include_router(events.router)
    app.include_router(webhook_endpoints.router)
    app.include_router(webhooks.router)
    app.include_router(email_settings.router)
    app.include_router(paypal_return.router)
    app.include_router(admin.router)
    install_openapi(app)
    return app


async def _purge_expired_keys(store: IdempotencyStore) -> None:
    """Idempotency keys past the retention window go; a failed purge is tried again later."""
    while True:
        try:
            purged = await run_in_threadpool(store.purge_expired)
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception:
            log.exception("purging expired idempotency keys failed")
        await asyncio.sleep(PURGE_EVERY_SECONDS)
