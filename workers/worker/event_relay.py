"""The outbox relay: starts the deliveries of every event written since it last looked.

Events are committed with the change they report; this loop (one per worker process) finds
those whose deliveries have not been started, opens one webhook delivery per subscribed
endpoint and one email per kind the event makes (receipts, dunning, notices: the tenant's
email settings say which), starts their sagas under deterministic workflow ids, then marks
the event dispatched. A process
that dies anywhere in between leaves the event undispatched, and the next look (here or in
another worker) does it again: the delivery rows and the workflow ids are derived from the
event and the endpoint, so doing it twice starts nothing twice."""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import TypedSearchAttributes
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from schemas.domain.emails import email_starts
from schemas.email import EmailSettings
from schemas.identity import webhook_delivery_workflow_id
from schemas.store.emails import get_settings
from schemas.store.events import as_event
from schemas.store.events import mark_dispatched
from schemas.store.events import undispatched
from schemas.store.webhook_deliveries import enabled_endpoints
from schemas.store.webhook_deliveries import open_delivery
from schemas.store.webhook_deliveries import subscribers
from schemas.webhook_endpoints import DeliveryInput
from workflows.email_delivery.workflow import EmailDeliveryWorkflow
from workflows.kit import search_attributes as sa
from workflows.webhook_delivery.workflow import WebhookDeliveryWorkflow

log = logging.getLogger("paysaga.events")
BATCH = 100


@dataclass(frozen=True)
class SagaStart:
    run: Callable[..., Any]
    saga_input: BaseModel
    workflow_id: str
    search_attributes: TypedSearchAttributes
    summary: str


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
        batch = await asyncio.to_thread(self._open_batch)
        dispatched: list[str] = []
        for event_id, starts in batch:
            try:
                for start in starts:
                    await self._start(start)
            except RPCError as error:
                log.warning("event relay: Temporal refused a start (%s); retried", error.message)
                break
            dispatched.append(event_id)
        if dispatched:
            await asyncio.to_thread(mark_dispatched, self._engine, dispatched)
        return len(batch)

    def _open_batch(self) -> list[tuple[str, list[SagaStart]]]:
        """The oldest undispatched events, each with the sagas it starts: its webhook
        deliveries (opened here) and its emails. One read for the batch, each tenant's
        endpoints and email settings read once, a write only to open deliveries."""
        with self._engine.connect() as connection:
            events = undispatched(connection, BATCH)
            tenants = {event.tenant_id for event in events}
            endpoints = {tenant: enabled_endpoints(connection, tenant) for tenant in tenants}
            settings = {tenant: get_settings(connection, tenant) for tenant in tenants}
        to_open = [
            (event, endpoint_id)
            for event in events
            for endpoint_id in subscribers(endpoints[event.tenant_id], event.type)
        ]
        opened: dict[str, list[DeliveryInput]] = {}
        if to_open:
            now = datetime.now(UTC)
            with self._engine.begin() as connection:
                for event, endpoint_id in to_open:
                    delivery = open_delivery(connection, event, endpoint_id, now)
                    opened.setdefault(event.event_id, []).append(delivery)
        return [
            (
                event.event_id,
                [_delivery_start(d) for d in opened.get(event.event_id, [])]
                + _email_starts(event, settings[event.tenant_id]),
            )
            for event in events
        ]

    async def _start(self, start: SagaStart) -> None:
        try:
            await self._client.start_workflow(
                start.run,
                start.saga_input,
                id=start.workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=start.search_attributes,
                static_summary=start.summary,
            )
        except WorkflowAlreadyStartedError:
            pass  # started by an earlier look (it already ran): nothing to do


def _delivery_start(delivery: DeliveryInput) -> SagaStart:
    return SagaStart(
        WebhookDeliveryWorkflow.run,
        delivery,
        webhook_delivery_workflow_id(delivery.tenant_id, delivery.delivery_id),
        sa.webhook_delivery(delivery.tenant_id, delivery.endpoint_id, delivery.event_type),
        f"{delivery.event_type} to {delivery.endpoint_id}",
    )


def _email_starts(event: Any, settings: EmailSettings | None) -> list[SagaStart]:
    if settings is None:
        return []  # most tenants: no email, and no event to parse
    return [
        SagaStart(
            EmailDeliveryWorkflow.run,
            email,
            workflow_id,
            sa.tenant(email.tenant_id),
            f"{email.kind} email for {email.event_id}",
        )
        for workflow_id, email in email_starts(event.tenant_id, as_event(event), settings)
    ]
