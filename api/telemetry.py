"""Request spans, the ``X-Trace-Id`` response header, and a log context per request."""

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.propagators import ResponsePropagator
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.propagators import set_global_response_propagator
from opentelemetry.propagators.textmap import CarrierT
from opentelemetry.propagators.textmap import Setter
from opentelemetry.propagators.textmap import default_setter
from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from schemas.runtime.log_context import log_context
from schemas.runtime.settings import Settings

TRACE_ID_HEADER = "X-Trace-Id"
# Probes and scrapes (many a minute, nothing to trace), and the codec endpoint, whose URL
# holds the codec token: a span would carry it to the tracing backend as url.path.
UNTRACED_PATHS = "/healthz,/readyz,/metrics,/codec/"


class TraceIdHeader(ResponsePropagator):
    """Writes the request span's trace id into the response as ``X-Trace-Id``.

    The instrumentation's ASGI middleware calls it for every response it sends, also the
    500 problem that FastAPI's catch-all handler sends from outside the app's middleware,
    which a middleware of ours would never see."""

    def inject(
        self,
        carrier: CarrierT,
        context: trace.Context | None = None,
        setter: Setter = default_setter,
    ) -> None:
        # The carrier is each ASGI message; headers belong to the response start only.
        if carrier.get("type") != "http.response.start":
            return
        span_context = trace.get_current_span(context).get_span_context()
        if span_context.is_valid:
            setter.set(carrier, TRACE_ID_HEADER, trace.format_trace_id(span_context.trace_id))


class RequestLogContext:
    """Each request starts with no tenant or payment in its log lines and leaves none behind
    (auth and the payment routes fill them in)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with log_context():
            await self.app(scope, receive, send)


def install_tracing(app: FastAPI, settings: Settings) -> None:
    """One server span per request (named like ``POST /v1/payments``) whose trace the
    Temporal client carries on into the workflow and its activities."""
    if not isinstance(get_global_response_propagator(), TraceIdHeader):
        set_global_response_propagator(TraceIdHeader())
    app.add_middleware(RequestLogContext)
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=UNTRACED_PATHS, exclude_spans=["receive", "send"]
    )
