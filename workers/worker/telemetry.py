"""The worker's Temporal runtime: one Prometheus endpoint for the SDK's metrics and ours.

The Temporal SDK serves its own metrics (pollers, task latencies, workflow and activity
counts) at ``http://<worker_metrics_address>/metrics``. Our workflow and activity metrics
(``paysaga_*``, see workflows/kit/metrics.py and activities/metrics.py) go through the same
runtime's meter, so an operator scrapes one endpoint per worker.
"""

from temporalio.runtime import PrometheusConfig
from temporalio.runtime import Runtime
from temporalio.runtime import TelemetryConfig

from schemas.runtime.settings import Settings

# Seconds, from 50 ms to a week: a payment with manual capture may wait days for its capture.
SAGA_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400, 604800]

# A runtime binds its address once: a second one in the same process could not serve.
_runtimes: dict[str, Runtime] = {}


def worker_runtime(settings: Settings) -> Runtime | None:
    """The process's runtime serving metrics at ``settings.worker_metrics_address``; None
    (the SDK's default runtime, no metrics served) when no address is set."""
    address = settings.worker_metrics_address
    if not address:
        return None
    if address not in _runtimes:
        prometheus = PrometheusConfig(
            bind_address=address,
            # Prometheus conventions: counters end in _total, durations are in seconds.
            counters_total_suffix=True,
            durations_as_seconds=True,
            histogram_bucket_overrides={"paysaga_saga_duration": SAGA_DURATION_BUCKETS},
        )
        _runtimes[address] = Runtime(telemetry=TelemetryConfig(metrics=prometheus))
    return _runtimes[address]
