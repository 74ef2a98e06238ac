"""The process's OpenTelemetry tracer provider, configured by the standard ``OTEL_*`` variables.

- ``OTEL_TRACES_EXPORTER``: ``otlp`` (OTLP over HTTP/protobuf, which reads
  ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``..._HEADERS`` and the rest itself), ``console`` or
  ``none``; a comma-separated list sends spans to each. Unset: ``otlp`` when an OTLP endpoint
  is set, otherwise no exporter at all.
- ``OTEL_SDK_DISABLED=true``: no provider, no spans, no trace ids.
- ``OTEL_SERVICE_NAME`` overrides the service name the process gives; sampling
  (``OTEL_TRACES_SAMPLER``) and ``OTEL_RESOURCE_ATTRIBUTES`` are read by the SDK.

With no exporter every request, workflow and log line still carries a trace id an operator
can search for (the API returns it as ``X-Trace-Id``), but nothing is recorded: spans are
sampled out while the provider has no processor (``RecordedWhenExported``), and a
non-recording span still has its trace and span id and propagates them; the API and the
worker then make no spans of their own at all (``spans_exported``). ``OTEL_TRACES_SAMPLER``
overrides the sampler.
"""

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.sdk.trace.sampling import Sampler

log = logging.getLogger("paysaga.tracing")

_configured = False
_lock = threading.Lock()


def tracing_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def configure_tracing(service_name: str) -> None:
    """Install the global tracer provider once per process; later calls do nothing. A
    provider that is already installed (a test's, or an agent's) is kept as it is."""
    global _configured
    with _lock:
        if _configured or tracing_disabled():
            return
        _configured = True
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(new_provider(service_name))
        # Provider adapters speak httpx: their calls become child spans of the activity
        # (and carry traceparent to the provider); done once, for the API and the worker.
        HTTPXClientInstrumentor().instrument()


def new_provider(service_name: str) -> TracerProvider:
    """The tracer provider ``configure_tracing`` installs: the exporters of the ``OTEL_*``
    variables, and spans recorded only while it hands them to some processor."""
    name = os.environ.get("OTEL_SERVICE_NAME", "").strip() or service_name
    chosen = None if os.environ.get("OTEL_TRACES_SAMPLER", "").strip() else RecordedWhenExported()
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}), sampler=chosen)
    if chosen is not None:
        chosen.watch(provider)
    for exporter in span_exporters():
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class RecordedWhenExported(Sampler):
    """Drops every span while its provider hands spans to no processor (its trace and span
    ids stay, and propagate); records them once one is there (an exporter, a test's).

    Recording, it records every span, even under a parent another of our processes did not
    record: the API drops a client's traceparent, so an unsampled parent is one of our own
    processes that exports nothing, not a sampling decision to follow."""

    def __init__(self) -> None:
        self._recording = ParentBased(root=ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON)
        self._provider: TracerProvider | None = None

    def watch(self, provider: TracerProvider) -> None:
        self._provider = provider

    def should_sample(
        self,
        parent_context,
        trace_id,
        name,
        kind=None,
        attributes=None,
        links=None,
        trace_state=None,
    ):
        exported = self._provider is None or has_span_processors(self._provider) is not False
        decide = self._recording if exported else ALWAYS_OFF
        return decide.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"RecordedWhenExported{{{self._recording.get_description()}}}"


def span_exporters() -> list[SpanExporter]:
    names = [
        name.strip().lower()
        for name in os.environ.get("OTEL_TRACES_EXPORTER", "").split(",")
        if name.strip()
    ]
    if not names:
        otlp_endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        )
        names = ["otlp"] if otlp_endpoint else []
    exporters: list[SpanExporter] = []
    for name in names:
        if name == "otlp":
            exporters.append(_otlp_exporter())
        elif name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            # A typo must not pass for "tracing is on": refuse to start, as the SDK does.
            raise ValueError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported: use otlp, console or none"
            )
    return exporters


def _otlp_exporter() -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        log.warning(
            "OTEL_EXPORTER_OTLP_PROTOCOL=%s is not supported: spans are sent as "
            "http/protobuf (a collector listens for it on port 4318)",
            protocol,
        )
    return OTLPSpanExporter()


def has_span_processors(provider: object) -> bool | None:
    """Whether ``provider`` hands its spans to any processor; None for a provider this
    module cannot see into (an agent's)."""
    processors = getattr(
        getattr(provider, "_active_span_processor", None), "_span_processors", None
    )
    return None if processors is None else bool(processors)


def spans_exported() -> bool:
    """Whether the process's tracer provider hands its spans to any processor. A provider
    this module cannot see into is taken to export them."""
    return has_span_processors(trace.get_tracer_provider()) is not False


class CurrentSpanTracer(trace.Tracer):
    """A tracer whose spans are the current one: what a client's tracing interceptor needs
    when no span is exported. Its calls still carry the current trace (the request's) on to
    the workflow, without a span of their own that nobody would see."""

    def start_span(self, name: str, context: trace.Context | None = None, *_, **__) -> trace.Span:
        return trace.get_current_span(context)

    @contextmanager
    def start_as_current_span(
        self, name: str, context: trace.Context | None = None, *_, **__
    ) -> Iterator[trace.Span]:
        yield trace.get_current_span(context)


def current_trace_id() -> str | None:
    """The current span's trace id as 32 hex digits; None outside a span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


def current_span_id() -> str | None:
    """The current span's id as 16 hex digits; None outside a span."""
    context = trace.get_current_span().get_span_context()
    return trace.format_span_id(context.span_id) if context.is_valid else None
