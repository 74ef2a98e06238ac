"""Request spans, the ``X-Trace-Id`` response header, and a log context per request.

A span no processor exports is work for nothing, but its trace id is not: with no exporter a
request gets a trace id of its own and no server span (``RequestTraceId``).
"""

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.propagators import ResponsePropagator
from opentelemetry.instrumentation.propagators import get_global_response_propagator
from opentelemetry.instrumentation.propagators import set_global_response_propagator
from opentelemetry.propagators.textmap import CarrierT
from opentelemetry.propagators.textmap import Setter
from opentelemetry.propagators.textmap import default_setter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan
from opentelemetry.trace import Span
from opentelemetry.trace import SpanContext
from opentelemetry.trace import TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.http import parse_excluded_urls
from starlette.types import ASGIApp
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from api.http_middleware import HttpMiddleware
from schemas.runtime.log_context import log_context
from schemas.runtime.settings import Settings
from schemas.runtime.tracing import spans_exported

TRACE_ID_HEADER = "X-Trace-Id"
# Probes and scrapes (many a minute, nothing to trace), and the codec endpoint (an
# operators' tool, many calls per page of the Temporal UI).
UNTRACED_PATHS = "/healthz,/readyz,/metrics,/codec/"


# Trace context a client sends (W3C Trace Context and Baggage). Nobody outside is trusted to
# parent our spans, pick the trace our workflows join, or put entries in the baggage that
# our processes carry on to Temporal and every provider we call.
CLIENT_TRACE_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
CLIENT_TRACE_ID_ATTRIBUTE = "paysaga.client_trace_id"
_CLIENT_TRACE_ID_KEY = "paysaga.client_trace_id"


class DropClientTraceContext(HttpMiddleware):
    """Removes the client's trace headers before the instrumentation reads them, so every
    request starts a trace of its own. The client's trace id, if it is a valid one, is kept
    in the scope for ``_note_client_trace`` to put on the server span (correlation only)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        if any(name in CLIENT_TRACE_HEADERS for name, _ in headers):
            carrier = {"traceparent": _header(headers, b"traceparent")}
            client = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier))
            context = client.get_span_context()
            scope = dict(scope)
            scope["headers"] = [(n, v) for n, v in headers if n not in CLIENT_TRACE_HEADERS]
            if context.is_valid:
                scope[_CLIENT_TRACE_ID_KEY] = trace.format_trace_id(context.trace_id)
        await self.app(scope, receive, send)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    return next((v.decode("latin-1") for n, v in headers if n == name), "")


def _note_client_trace(span: Span, scope: dict) -> None:
    client_trace_id = scope.get(_CLIENT_TRACE_ID_KEY)
    if client_trace_id and span.is_recording():
        span.set_attribute(CLIENT_TRACE_ID_ATTRIBUTE, client_trace_id)


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


class RequestTraceId(HttpMiddleware):
    """What a request needs of tracing when no span is exported: a trace of its own, current
    while it runs (its log lines, the payment's ``trace_id`` and the trace the Temporal client
    carries on to the workflow), and its id in ``X-Trace-Id``; the span in that context does
    not record."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__(app)
        self._untraced = parse_excluded_urls(UNTRACED_PATHS)
        self._ids = RandomIdGenerator()

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._untraced.url_disabled(scope["path"]):
            await self.app(scope, receive, send)
            return
        # Sampled, as the instrumentation's spans are: a worker that exports spans records
        # the workflow's under this trace.
        span_context = SpanContext(
            self._ids.generate_trace_id(),
            self._ids.generate_span_id(),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        trace_id_header = (
            TRACE_ID_HEADER.lower().encode(),
            trace.format_trace_id(span_context.trace_id).encode(),
        )

        async def send_with_trace_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), trace_id_header]}
            await send(message)

        # Attached as is: trace.use_span would also record exceptions on a span that records
        # nothing.
        token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span_context)))
        try:
            await self.app(scope, receive, send_with_trace_id)
        finally:
            otel_context.detach(token)


def install_tracing(app: FastAPI, settings: Settings) -> None:
    """One server span per request (named like ``POST /v1/payments``) whose trace the
    Temporal client carries on into the workflow and its activities; only its trace id when
    no span is exported (decided when the first request builds the middleware stack)."""
    if not isinstance(get_global_response_propagator(), TraceIdHeader):
        set_global_response_propagator(TraceIdHeader())
    app.add_middleware(RequestLogContext)
    untraced = app.build_middleware_stack
    FastAPIInstrumentor.instrument_app(
        app,
        excluded_urls=UNTRACED_PATHS,
        exclude_spans=["receive", "send"],
        server_request_hook=_note_client_trace,
    )
    instrumented = app.build_middleware_stack

    def build_middleware_stack() -> ASGIApp:
        # Outermost, like the instrumentation's middleware: the client's trace headers must
        # be gone before a parent is extracted from them, and the 500 that FastAPI's
        # catch-all handler sends from outside the app's middleware gets its trace id too.
        if spans_exported():
            return DropClientTraceContext(instrumented())
        return DropClientTraceContext(RequestTraceId(untraced()))

    app.build_middleware_stack = build_middleware_stack
