"""The outbox relay: starts the deliveries of every event written since it last looked.

Events are committed with the change they report; this loop (one per worker process) finds
those whose deliveries have not been started, opens one delivery per subscribed endpoint and
starts its saga under a deterministic workflow id, then marks the event dispatched. A process
that dies anywhere in between leaves the event undispatched, and the next look (here or in
another worker) does it again: the delivery rows and the workflow ids are derived from the
event and the endpoint, so doing it twice starts nothing twice."""

import asyncio
import logging
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from schemas.identity import webhook_delivery_workflow_id
from schemas.store.events import mark_dispatched
from schemas.store.events import undispatched
from schemas.store.webhook_deliveries import open_delivery
from schemas.store.webhook_deliveries import subscribed_endpoints
from schemas.webhook_endpoints import DeliveryInput
from workflows.kit import search_attributes as sa
from workflows.webhook_delivery.workflow import WebhookDeliveryWorkflow

log = logging.getLogger("paysaga.events")
BATCH = 100


class EventRelay:
    def __init__(self, client: Client, engine: Engine, task_queue: str) -> None:
        self._client = client
        self._engine = engine
        self._task_queue = task_queue

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                relayed = await self.relay_once()
            except Exception:
                log.exception("event relay: events stay undispatched until the next look")
                relayed = 0
            if relayed < BATCH:
                try:
                    await asyncio.wait_for(stop.wait(), interval)
                except TimeoutError:
                    pass

    async def relay_once(self) -> int:
        """Dispatch up to a batch of events; answers how many were looked at."""
        events = await asyncio.to_thread(undispatched, self._engine, BATCH)
        dispatched: list[str] = []
        for event in events:
            deliveries = await asyncio.to_thread(self._open_deliveries, event)
            try:
                for delivery in deliveries:
                    await self._start(delivery)
            except RPCError as error:
                log.warning("event relay: Temporal refused a start (%s); retried", error.message)
                break
            dispatched.append(event.event_id)
        await asyncio.to_thread(mark_dispatched, self._engine, dispatched)
        return len(events)

    def _open_deliveries(self, event: Any) -> list[DeliveryInput]:
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            return [
                open_delivery(connection, event, endpoint_id, now)
                for endpoint_id in subscribed_endpoints(connection, event.tenant_id, event.type)
            ]

    async def _start(self, delivery: DeliveryInput) -> None:
        try:
            await self._client.start_workflow(
                WebhookDeliveryWorkflow.run,
                delivery,
                id=webhook_delivery_workflow_id(delivery.tenant_id, delivery.delivery_id),
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=sa.webhook_delivery(
                    delivery.tenant_id, delivery.endpoint_id, delivery.event_type
                ),
                static_summary=f"{delivery.event_type} to {delivery.endpoint_id}",
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier look (it already ran): nothing to do
