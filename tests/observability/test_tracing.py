"""One payment, one trace: the API request, the workflow and each activity run share a trace
id, which the response (X-Trace-Id) and the payment itself (trace_id) give the operator.

The real app in-process, an in-process worker with the real activities, the dev server and
the sandbox gateway; spans are collected from the process's tracer provider.
"""

import re
import uuid
from collections.abc import AsyncIterator
from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import propagate
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client

from api import api_keys
from api import dependencies
from api import telemetry
from schemas.identity import payment_workflow_id
from schemas.runtime import tracing
from schemas.runtime.settings import Settings
from schemas.runtime.temporal_client import connect
from tests.support.api_app import app_client
from tests.support.provider_proxy import ProviderProxy
from tests.support.served import serve_app
from tests.support.worker import running_worker
from workflows.payment.workflow import PaymentWorkflow

TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span this process ends from now on. A tracer provider is installed once per
    process (configure_tracing keeps one that is there): the test's exporter joins it."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays on the provider, but exports nothing more


@pytest.fixture
def sandbox_seen(gateway_url: str) -> Iterator[ProviderProxy]:
    """The sandbox gateway behind a proxy that records what the provider receives."""
    proxy = ProviderProxy([("", gateway_url)], lambda status: {"error": {"status": status}})
    with serve_app(proxy.app, "sandbox proxy") as url:
        proxy.url = url
        yield proxy


@pytest.fixture
def api_settings(settings: Settings, local_env, sandbox_seen: ProviderProxy) -> Settings:
    return settings.model_copy(
        update={
            "temporal_address": local_env.client.service_client.config.target_host,
            "temporal_namespace": local_env.client.namespace,
            "sandbox_gateway_url": sandbox_seen.url,
            # Only the sandbox is configured, whatever the environment says.
            "stripe_api_key": None,
            "paypal_client_id": None,
        }
    )


@pytest.fixture
async def temporal(api_settings: Settings, engine: Engine) -> AsyncIterator[Client]:
    """A worker connected as the real one is (schemas.runtime.temporal_client:
    TracingInterceptor)."""
    client = await connect(api_settings)
    async with running_worker(client, api_settings, engine):
        yield client


@pytest.fixture
def tenant(engine: Engine) -> tuple[str, str]:
    with Session(engine) as session:
        tenant = api_keys.create_tenant(session, "test", "Traced shop", None)
    with Session(engine) as session:
        return tenant.id, api_keys.create_key(session, "test", tenant.id).secret


@pytest.fixture
async def api(spans, api_settings: Settings, tenant) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {tenant[1]}"}
    async with app_client(api_settings, headers=headers, timeout=60) as client:
        yield client


def _trace(spans: list[ReadableSpan], trace_id: str) -> list[ReadableSpan]:
    return [span for span in spans if trace.format_trace_id(span.context.trace_id) == trace_id]


async def create_traced_payment(client: httpx.AsyncClient) -> tuple[httpx.Response, str]:
    """A card payment created through the API, and the trace id its answer gives."""
    body = {
        "amount": 1999,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "payment_method": "tok_visa",
    }
    created = await client.post(
        "/v1/payments", json=body, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert created.status_code == 201, created.text
    trace_id = created.headers["X-Trace-Id"]
    assert TRACE_ID.match(trace_id)
    return created, trace_id


async def test_a_payment_is_one_trace_from_request_to_activities(api, temporal, tenant, spans):
    spans.clear()
    created, trace_id = await create_traced_payment(api)
    payment_id = created.json()["payment_id"]
    workflow_id = payment_workflow_id(tenant[0], payment_id)
    finished = await temporal.get_workflow_handle_for(PaymentWorkflow.run, workflow_id).result()
    assert finished.status == "succeeded"
    ended = list(spans.get_finished_spans())

    # Every span Temporal made for this payment's workflow is in the request's trace.
    of_workflow = [s for s in ended if s.attributes.get("temporalWorkflowID") == workflow_id]
    assert of_workflow
    assert {trace.format_trace_id(s.context.trace_id) for s in of_workflow} == {trace_id}
    in_trace = _trace(ended, trace_id)
    names = {span.name for span in in_trace}
    assert {
        "POST /v1/payments",
        "StartUpdateWithStartWorkflow:PaymentWorkflow",
        "RunWorkflow:PaymentWorkflow",
        "RunActivity:screen_payment",  # a local activity
        "RunActivity:authorize_payment",
        "RunActivity:record_payment",  # a local activity
        "CompleteWorkflow:PaymentWorkflow",
    } <= names, sorted(names)
    # One server span for the request (no per-message send/receive spans).
    assert [s.name for s in in_trace if s.kind == SpanKind.SERVER and "POST" in s.name] == [
        "POST /v1/payments"
    ]
    # The provider call over httpx is a child of the activity that made it.
    [authorize] = [s for s in in_trace if s.name == "RunActivity:authorize_payment"]
    provider_calls = [
        s for s in in_trace if s.kind == SpanKind.CLIENT and s.parent == authorize.context
    ]
    assert provider_calls, sorted(names)

    read = await api.get(f"/v1/payments/{payment_id}")
    assert read.status_code == 200, read.text
    assert read.json()["trace_id"] == trace_id
    assert TRACE_ID.match(read.headers["X-Trace-Id"])
    assert read.headers["X-Trace-Id"] != trace_id  # each request is its own trace


async def test_problem_responses_carry_the_trace_id_too(api, spans):
    unauthenticated = await api.get("/v1/payments", headers={"Authorization": "Bearer nope"})
    assert unauthenticated.status_code == 401
    invalid = await api.post(
        "/v1/payments", json={"amount": -1}, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert invalid.status_code == 422
    for response in (unauthenticated, invalid):
        assert response.headers["content-type"] == "application/problem+json"
        trace_id = response.headers["X-Trace-Id"]
        assert TRACE_ID.match(trace_id)
        assert _trace(list(spans.get_finished_spans()), trace_id)
    # Probes are not traced.
    assert "X-Trace-Id" not in (await api.get("/healthz")).headers


# What a client (or anyone on the internet) may send: its own trace and baggage.
CLIENT_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CLIENT_TRACEPARENT = f"00-{CLIENT_TRACE_ID}-b7ad6b7169203331-01"
CLIENT_BAGGAGE = "tenant_id=ten_someone_else,role=admin"


async def test_a_client_traceparent_starts_no_trace_of_ours(api, spans):
    spans.clear()
    headers = {"traceparent": CLIENT_TRACEPARENT, "baggage": CLIENT_BAGGAGE}
    listed = await api.get("/v1/payments", headers=headers)

    assert listed.status_code == 200, listed.text
    trace_id = listed.headers["X-Trace-Id"]
    assert TRACE_ID.match(trace_id) and trace_id != CLIENT_TRACE_ID
    ended = list(spans.get_finished_spans())
    assert not _trace(ended, CLIENT_TRACE_ID)
    [server] = [s for s in _trace(ended, trace_id) if s.kind == SpanKind.SERVER]
    assert server.parent is None  # a root: the client's span is not its parent
    # The client's trace id is kept for correlation, as an attribute only.
    assert server.attributes.get("paysaga.client_trace_id") == CLIENT_TRACE_ID


async def test_client_trace_context_never_reaches_a_provider(
    api, temporal, tenant, spans, sandbox_seen
):
    sandbox_seen.requests.clear()
    body = {
        "amount": 1999,
        "currency": "USD",
        "customer_id": f"cus_{uuid.uuid4().hex[:10]}",
        "payment_method": "tok_visa",
    }
    headers = {
        "Idempotency-Key": uuid.uuid4().hex,
        "traceparent": CLIENT_TRACEPARENT,
        "baggage": CLIENT_BAGGAGE,
    }
    created = await api.post("/v1/payments", json=body, headers=headers)
    assert created.status_code == 201, created.text
    trace_id = created.headers["X-Trace-Id"]
    workflow_id = payment_workflow_id(tenant[0], created.json()["payment_id"])
    finished = await temporal.get_workflow_handle_for(PaymentWorkflow.run, workflow_id).result()
    assert finished.status == "succeeded"
    assert finished.trace_id == trace_id != CLIENT_TRACE_ID

    charges = [seen for seen in sandbox_seen.requests if seen.method == "POST"]
    assert charges, sandbox_seen.requests
    for seen in charges:
        assert "baggage" not in seen.headers, seen.headers
        # The provider sees our own trace (the httpx instrumentation's), never the client's.
        assert CLIENT_TRACE_ID not in seen.headers.get("traceparent", "")
        assert trace_id in seen.headers["traceparent"]


@pytest.fixture
async def unexported_api(
    spans, api_settings: Settings, tenant, monkeypatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The API as it runs with no exporter configured: it sees no span processor (the test's
    is there only for the in-process worker's spans)."""
    monkeypatch.setattr(telemetry, "spans_exported", lambda: False)
    monkeypatch.setattr(dependencies, "spans_exported", lambda: False)
    headers = {"Authorization": f"Bearer {tenant[1]}"}
    async with app_client(api_settings, headers=headers, timeout=60) as client:
        yield client


async def test_with_no_span_exported_a_payment_still_has_one_trace_id(
    unexported_api, temporal, tenant, spans
):
    spans.clear()
    created, trace_id = await create_traced_payment(unexported_api)
    workflow_id = payment_workflow_id(tenant[0], created.json()["payment_id"])
    finished = await temporal.get_workflow_handle_for(PaymentWorkflow.run, workflow_id).result()
    assert finished.trace_id == trace_id

    # The workflow joined the request's trace; the API itself made no span in it.
    ended = list(spans.get_finished_spans())
    of_workflow = [s for s in ended if s.attributes.get("temporalWorkflowID") == workflow_id]
    assert of_workflow
    assert {trace.format_trace_id(s.context.trace_id) for s in of_workflow} == {trace_id}
    names = {span.name for span in _trace(ended, trace_id)}
    assert "RunWorkflow:PaymentWorkflow" in names, sorted(names)
    assert not names & {"POST /v1/payments", "StartUpdateWithStartWorkflow:PaymentWorkflow"}

    invalid = await unexported_api.post(
        "/v1/payments", json={"amount": -1}, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert invalid.status_code == 422
    assert TRACE_ID.match(invalid.headers["X-Trace-Id"])
    assert invalid.headers["X-Trace-Id"] != trace_id  # each request is its own trace
    assert "X-Trace-Id" not in (await unexported_api.get("/healthz")).headers


def test_configure_tracing_keeps_an_installed_provider(spans, monkeypatch):
    installed = trace.get_tracer_provider()
    monkeypatch.setattr(tracing, "_configured", False)
    tracing.configure_tracing("paysaga-test")
    assert trace.get_tracer_provider() is installed
    tracing.configure_tracing("paysaga-test")  # a second call is a no-op
    assert trace.get_tracer_provider() is installed


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, [OTLPSpanExporter]),
        (
            {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"},
            [OTLPSpanExporter],
        ),
        ({"OTEL_TRACES_EXPORTER": "console"}, [ConsoleSpanExporter]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, [OTLPSpanExporter, ConsoleSpanExporter]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}, []),
    ],
)
def test_exporters_follow_the_standard_variables(monkeypatch, environment, expected):
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    exporters = tracing.span_exporters()
    try:
        assert [type(exporter) for exporter in exporters] == expected
    finally:
        for exporter in exporters:
            exporter.shutdown()


def test_an_unknown_exporter_is_refused(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="zipkin"):
        tracing.span_exporters()


def test_no_trace_id_outside_a_span():
    assert tracing.current_trace_id() is None


def test_a_process_without_an_exporter_keeps_trace_ids_but_records_nothing(monkeypatch):
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    provider = tracing.new_provider("test")
    with provider.get_tracer("test").start_as_current_span("request") as span:
        assert not span.is_recording()
        assert TRACE_ID.match(tracing.current_trace_id())
        assert tracing.current_span_id()
    # A processor added later (a test's, an agent's) is handed the spans from then on.
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("request") as span:
        assert span.is_recording()
    assert [s.name for s in exporter.get_finished_spans()] == ["request"]


def test_an_exporting_process_records_under_a_parent_that_was_not(monkeypatch):
    for name in ("OTEL_TRACES_SAMPLER", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    unrecorded = tracing.new_provider("api").get_tracer("api")
    exporting_provider = tracing.new_provider("worker")
    exporting_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    exporting = exporting_provider.get_tracer("worker")
    with unrecorded.start_as_current_span("request") as parent:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    with exporting.start_as_current_span("activity", context=propagate.extract(carrier)) as child:
        assert child.is_recording()
        assert child.get_span_context().trace_id == parent.get_span_context().trace_id


def test_the_standard_sampler_variable_wins(monkeypatch):
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    provider = tracing.new_provider("test")
    with provider.get_tracer("test").start_as_current_span("request") as span:
        assert span.is_recording()  # the SDK's always_on, processor or not
