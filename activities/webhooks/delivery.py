"""One attempt of a webhook delivery: read what to send and where, sign it (Standard
Webhooks, with every secret that signs now), POST it through the guarded sender, and record
the attempt with what it did to the delivery and the endpoint.

The signing secrets and the event's body come from SQL here, never from the workflow, so
neither sits in Temporal's history. SQL runs in a thread; the POST on the event loop, bounded
by the attempt timeout whatever the receiver does."""

import asyncio
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import NoResultFound
from standardwebhooks.webhooks import Webhook
from temporalio import activity

from activities.webhooks.sender import SendResult
from activities.webhooks.sender import WebhookSender
from schemas.store.webhook_deliveries import AttemptRecord
from schemas.store.webhook_deliveries import AttemptTarget
from schemas.store.webhook_deliveries import attempt_target
from schemas.store.webhook_deliveries import record_attempt
from schemas.store.webhook_endpoints import signing_secrets
from schemas.webhook_endpoints import ATTEMPT_TIMEOUT
from schemas.webhook_endpoints import AttemptCommand
from schemas.webhook_endpoints import AttemptOutcome


def signed_headers(target: AttemptTarget, secrets: list[str], now: datetime) -> dict[str, str]:
    """``webhook-signature`` holds one ``v1,…`` per secret (space-separated): during a
    rotation's overlap a receiver holding either secret verifies."""
    signatures = [Webhook(secret).sign(target.event_id, now, target.body) for secret in secrets]
    return {
        "content-type": "application/json",
        "webhook-id": target.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


class WebhookDeliveryActivities:
    def __init__(self, engine: Engine, sender: WebhookSender, allow_private: bool) -> None:
        self._engine = engine
        self._sender = sender
        self._allow_private = allow_private

    @activity.defn
    async def attempt_webhook_delivery(self, command: AttemptCommand) -> AttemptOutcome:
        target = await asyncio.to_thread(self._target, command)
        if target is None or target.endpoint is None:
            return AttemptOutcome(result="endpoint_gone")
        # Real time, not the workflow's: receivers check the timestamp against their clock.
        now = datetime.now(UTC)
        headers = signed_headers(target, signing_secrets(target.endpoint, now), now)
        result = await self._sender.send(
            target.endpoint.url,
            target.body.encode(),
            headers,
            allow_private=self._allow_private,
            time_limit=ATTEMPT_TIMEOUT,
        )
        delivered = result.delivered
        attempt = AttemptRecord(
            at=command.at,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            excerpt=result.excerpt,
            manual=command.manual,
        )
        disabled = await asyncio.to_thread(self._record, command, target, attempt, delivered)
        _count(target.event_type, "delivered" if delivered else "failed", result, disabled)
        if delivered:
            return AttemptOutcome(result="delivered", status_code=result.status_code)
        return AttemptOutcome(
            result="endpoint_gone" if disabled else "failed",
            status_code=result.status_code,
            endpoint_disabled=disabled,
        )

    def _target(self, command: AttemptCommand) -> AttemptTarget | None:
        with self._engine.begin() as connection:
            try:
                return attempt_target(connection, command.tenant_id, command.delivery_id)
            except NoResultFound:
                return None  # the endpoint was deleted with its deliveries

    def _record(
        self,
        command: AttemptCommand,
        target: AttemptTarget,
        attempt: AttemptRecord,
        delivered: bool,
    ) -> bool:
        with self._engine.begin() as connection:
            return record_attempt(
                connection,
                command.tenant_id,
                target,
                attempt,
                delivered,
                None if command.last else command.next_attempt_at,
            )


def _count(event_type: str, outcome: str, result: SendResult, disabled: bool) -> None:
    """Deliveries by outcome and event family, attempt latency, endpoints disabled: bounded
    labels, never an endpoint or event id."""
    if not activity.in_activity():
        return
    meter = activity.metric_meter()
    family = event_type.split(".")[0]
    meter.create_counter(
        "paysaga_webhook_attempts", "Webhook delivery attempts, by outcome and event family"
    ).add(1, {"outcome": outcome, "family": family})
    meter.create_histogram_timedelta(
        "paysaga_webhook_attempt_duration",
        "Webhook delivery attempt duration, from connecting to the answer's first KiB",
        unit="duration",
    ).record(timedelta(milliseconds=result.latency_ms), {"outcome": outcome})
    if disabled:
        meter.create_counter(
            "paysaga_webhook_endpoints_disabled",
            "Webhook endpoints disabled after failing every delivery for the retry window",
        ).add(1)
