"""Prometheus metrics of the running stack: the API's /metrics and the worker's endpoint
(the Temporal SDK's metrics and ours, one endpoint), before and after three payments: one
succeeds, one is declined, one fails to capture and has its authorization voided.

The e2e tests run one after another on the shared stack: once the sagas of earlier tests
have finished, the deltas are exact."""

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from sqlalchemy import text

from tests.e2e.conftest import HOLD_SECONDS
from tests.e2e.conftest import create_payment

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name`` over every series carrying ``labels`` (and any others)."""
    return sum(
        value
        for sample, sample_labels, value in samples
        if sample == name and labels.items() <= sample_labels.items()
    )


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return total(after, name, **labels) - total(before, name, **labels)


# What the worker must show once the three payments have finished.
WORKER_DELTAS = [
    ("paysaga_payments_finished_total", {"status": "succeeded", "provider": "sandbox"}, 1),
    ("paysaga_payments_finished_total", {"status": "declined", "provider": "sandbox"}, 1),
    ("paysaga_payments_finished_total", {"status": "failed", "provider": "sandbox"}, 1),
    ("paysaga_saga_duration_count", {"status": "succeeded", "provider": "sandbox"}, 1),
    ("paysaga_saga_duration_count", {"status": "declined", "provider": "sandbox"}, 1),
    ("paysaga_saga_duration_count", {"status": "failed", "provider": "sandbox"}, 1),
    ("paysaga_compensations_total", {"step": "void_authorization", "outcome": "succeeded"}, 1),
    ("paysaga_compensations_total", {}, 1),
    # The decline at authorization and the refused capture.
    ("paysaga_provider_errors_total", {"provider": "sandbox", "kind": "Declined"}, 2),
    ("paysaga_provider_errors_total", {}, 2),
]


async def eventually(scrape_now: Callable[[], Awaitable[Samples]], done, seconds: float = 30):
    """Scrape until ``done(samples)``: the API answers at the saga's milestone, and the saga
    records its final metrics a moment later."""
    async with asyncio.timeout(seconds):
        while True:
            samples = await scrape_now()
            if done(samples):
                return samples
            await asyncio.sleep(0.2)


async def quiet_worker(stack, stack_db: Engine) -> Samples:
    """The worker's metrics once no saga of an earlier test can still finish (a payment left
    waiting for its capture expires, and voids, a few seconds later): no open payment in the
    read model and the same count of finished sagas on two scrapes in a row."""
    open_payments = text(
        "SELECT count(*) FROM payments "
        "WHERE status IN ('processing', 'requires_action', 'requires_capture')"
    )
    async with asyncio.timeout(HOLD_SECONDS * 4):
        while True:
            with stack_db.connect() as connection:
                waiting = connection.execute(open_payments).scalar_one()
            first = await scrape(stack.worker_metrics_url)
            await asyncio.sleep(0.5)
            second = await scrape(stack.worker_metrics_url)
            finished = "paysaga_payments_finished_total"
            if not waiting and total(first, finished) == total(second, finished):
                return second


async def api_counted(stack, stack_db: Engine) -> Samples:
    """The API's metrics once its payments gauge (a snapshot refreshed in the background)
    counts what the read model holds."""
    by_status = text("SELECT status, count(*) FROM payments GROUP BY status")

    def counted(samples: Samples) -> bool:
        with stack_db.connect() as connection:
            counts = dict(connection.execute(by_status).all())
        return all(total(samples, "paysaga_payments", status=s) == n for s, n in counts.items())

    return await eventually(lambda: scrape(f"{stack.api_url}/metrics"), counted)


async def test_api_and_worker_metrics_follow_the_payments(stack, stack_db, api):
    worker_before = await quiet_worker(stack, stack_db)
    api_before = await api_counted(stack, stack_db)

    succeeded = (await create_payment(api)).json()
    declined = (await create_payment(api, payment_method="tok_chargeDeclined")).json()
    voided = (await create_payment(api, payment_method="tok_captureFails")).json()
    assert [p["status"] for p in (succeeded, declined, voided)] == [
        "succeeded",
        "declined",
        "failed",
    ]
    assert voided["steps"][-1]["name"] == "void_authorization"
    # The sandbox gateway sends no webhooks: no signature on one can be good.
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as anyone:
        forged = await anyone.post("/v1/webhooks/sandbox", content=b"{}")
    assert forged.status_code == 400

    def worker_done(samples: Samples) -> bool:
        return all(
            moved(worker_before, samples, name, **labels) >= delta
            for name, labels, delta in WORKER_DELTAS
        )

    worker_after = await eventually(lambda: scrape(stack.worker_metrics_url), worker_done)
    for name, labels, delta in WORKER_DELTAS:
        assert moved(worker_before, worker_after, name, **labels) == delta, (name, labels)
    # The Temporal SDK's own metrics come from the same endpoint.
    assert moved(worker_before, worker_after, "temporal_workflow_completed_total") >= 3
    assert total(worker_after, "temporal_activity_execution_latency_count") > 0
    assert total(worker_after, "temporal_num_pollers") > 0

    api_after = await api_counted(stack, stack_db)
    for status in ("succeeded", "declined", "failed"):
        assert moved(api_before, api_after, "paysaga_payments", status=status) == 1, status
    created = {"method": "POST", "route": "/v1/payments", "status": "201"}
    assert moved(api_before, api_after, "paysaga_http_requests_total", **created) == 3
    timed = {"method": "POST", "route": "/v1/payments"}
    latency = "paysaga_http_request_duration_seconds_count"
    assert moved(api_before, api_after, latency, **timed) == 3
    rejected = {"provider": "sandbox"}
    failures = "paysaga_webhook_verification_failures_total"
    assert moved(api_before, api_after, failures, **rejected) == 1
