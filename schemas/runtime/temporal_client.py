"""One way to connect to Temporal for every process (API, worker, tools): pydantic payloads
encrypted by our codec, and OpenTelemetry spans carried across the client, the workflow and
its activities."""

from opentelemetry.trace import Tracer
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import Runtime

from schemas.runtime.payload_codec import data_converter
from schemas.runtime.settings import Settings


async def connect(
    settings: Settings, *, runtime: Runtime | None = None, tracer: Tracer | None = None
) -> Client:
    """``runtime``: the worker's, which serves Prometheus metrics; None: the default one.
    ``tracer``: what the client's spans come from; None: the process's tracer provider."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(settings),
        interceptors=[TracingInterceptor(tracer)],
        runtime=runtime,
    )
