"""Prometheus metrics of the API at ``GET /metrics`` (not in the OpenAPI document). With
``PAYSAGA_METRICS_TOKEN`` set a scrape must send ``Authorization: Bearer <token>``; unset,
it is open like /healthz (the embedded stack on loopback).

Each app has its own registry (a test process creates many apps): HTTP requests by method,
route template and status, their latency, payments by status and provider (counted in SQL
every ``PAYSAGA_METRICS_REFRESH_INTERVAL`` by a background task, so every API process reports
the same numbers and a scrape, which anyone may send as often as they like, costs no SQL),
webhook signature failures, and the process and platform collectors. Labels never carry an
id: routes are templates.
"""

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from collections.abc import Iterable
from datetime import timedelta

from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import Engine
from sqlalchemy import func
from sqlalchemy import select
from starlette.routing import BaseRoute
from starlette.routing import Mount
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from api.auth import bearer_token
from api.problems import Problem
from schemas.runtime.settings import Settings
from schemas.store.tables import PaymentRecord

log = logging.getLogger("paysaga.metrics")

# Label values for what a client may send at will, so the series stay few.
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ApiMetrics:
    """The registry of one app and the metrics its code updates."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.http_requests = Counter(
            "paysaga_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.http_request_duration = Histogram(
            "paysaga_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=registry,
        )
        self.webhook_verification_failures = Counter(
            "paysaga_webhook_verification_failures",
            "Provider webhooks refused for a bad or stale signature",
            ["provider"],
            registry=registry,
        )
        self.payments = PaymentsByStatus()
        registry.register(self.payments)
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)


class PaymentsByStatus:
    """``paysaga_payments``: payments in the read model by status and provider, from the last
    snapshot ``refresh`` took (the read model outlives Temporal's history, and every API
    process agrees); nothing until the first one."""

    NAME = "paysaga_payments"
    HELP = "Payments in the read model, by status and provider"

    def __init__(self) -> None:
        # Replaced whole by refresh (in a worker thread), read by collect: never mutated.
        self._counts: tuple[tuple[str, str, int], ...] = ()

    def refresh(self, engine: Engine) -> None:
        query = select(PaymentRecord.status, PaymentRecord.provider, func.count()).group_by(
            PaymentRecord.status, PaymentRecord.provider
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        self._counts = tuple((status, provider, count) for status, provider, count in rows)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return [self._family()]

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = self._family()
        for status, provider, count in self._counts:
            family.add_metric([status, provider], count)
        return [family]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(self.NAME, self.HELP, labels=["status", "provider"])


async def _refresh_forever(gauge: PaymentsByStatus, engine: Engine, every: timedelta) -> None:
    while True:
        try:
            await run_in_threadpool(gauge.refresh, engine)
        except Exception:
            # The last snapshot is still served; the next refresh tries again.
            log.warning("counting payments for /metrics failed", exc_info=True)
        await asyncio.sleep(every.total_seconds())


@contextlib.asynccontextmanager
async def refreshing_gauges(app: FastAPI, engine: Engine, every: timedelta) -> AsyncIterator[None]:
    """Keeps the SQL-computed gauges of ``app`` refreshed while inside (the app's lifespan)."""
    refreshing = asyncio.create_task(_refresh_forever(app.state.metrics.payments, engine, every))
    try:
        yield
    finally:
        refreshing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refreshing


def full_templates(routes: Iterable[BaseRoute], prefix: str = "") -> dict[int, str]:
    """The whole path template of every route, keyed by id() (routes define __eq__, so they
    cannot be keys), mounted ones included: a route under a Mount (the codec) has only its
    own part of the path."""
    templates: dict[int, str] = {}
    for route in routes:
        path = prefix + getattr(route, "path", "")
        templates[id(route)] = path
        if isinstance(route, Mount):
            templates.update(full_templates(route.routes, path))
    return templates


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/v1/payments/
    {payment_id}``, never the raw path), including the answers of inner middleware."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._templates: dict[int, str] | None = None

    def _template(self, route: BaseRoute | None) -> str:
        if route is None:
            return UNMATCHED_ROUTE
        if self._templates is None:  # the routes are all there once requests come
            self._templates = full_templates(self._routes)
        return self._templates.get(id(route)) or getattr(route, "path", None) or UNMATCHED_ROUTE

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            # The router puts the matched route in the scope on its way in.
            route = self._template(scope.get("route"))
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.http_requests.labels(method, route, str(status)).inc()
            self.metrics.http_request_duration.labels(method, route).observe(
                time.perf_counter() - started
            )


def webhook_rejected(request: Request, provider: str) -> None:
    """Count a webhook refused for its signature (api/routes/webhooks.py)."""
    request.app.state.metrics.webhook_verification_failures.labels(provider).inc()


def install_metrics(app: FastAPI, settings: Settings) -> None:
    app.state.metrics = metrics = ApiMetrics()
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, routes=app.router.routes)

    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics(request: Request) -> Response:
        if token is not None:
            given = bearer_token(request)
            if given is None or not secrets.compare_digest(given.encode(), token):
                raise Problem("metrics_unauthorized", headers={"WWW-Authenticate": "Bearer"})
        body = generate_latest(metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
