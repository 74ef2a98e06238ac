"""Webhook endpoints: where a tenant's events are pushed (the SQL is
``schemas/store/webhook_endpoints.py``), and the manual retry of one of their deliveries.

A URL is checked when it is registered or changed (``schemas.domain.webhook_urls``): https
and no local or non-public host, unless ``webhook_allow_private_urls``. Its name's
addresses are checked again at each delivery, since DNS may change after this."""

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Connection
from sqlmodel import Session
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy

from api.dependencies import TemporalConnection
from api.dependencies import run_transaction
from api.problems import Problem
from api.sagas import temporal_call
from api.sagas import tenant_priority
from schemas.domain.webhook_urls import url_refusal
from schemas.identity import WEBHOOK_DELIVERY_ID
from schemas.identity import WEBHOOK_ENDPOINT_ID
from schemas.identity import webhook_delivery_workflow_id
from schemas.runtime.settings import Settings
from schemas.store import webhook_endpoints as store
from schemas.store.quotas import enforce_quota
from schemas.tenants import TenantQuotas
from schemas.webhook_endpoints import CreateWebhookEndpointRequest
from schemas.webhook_endpoints import DeliveryInput
from schemas.webhook_endpoints import UpdateWebhookEndpointRequest
from schemas.webhook_endpoints import WebhookDelivery
from schemas.webhook_endpoints import WebhookEndpoint
from workflows.kit.search_attributes import webhook_delivery
from workflows.webhook_delivery.workflow import WebhookDeliveryWorkflow


def check_url(url: str, settings: Settings) -> None:
    """422 ``invalid_webhook_url`` saying why, for a URL no delivery may go to."""
    refusal = url_refusal(url, settings.webhook_allow_private_urls)
    if refusal is not None:
        raise Problem("invalid_webhook_url", refusal)


async def find_endpoint(session: Session, tenant: str, endpoint_id: str) -> WebhookEndpoint:
    """404 unless it is one of the tenant's."""
    found = None
    if WEBHOOK_ENDPOINT_ID.match(endpoint_id):
        found = await run_transaction(session, store.get, tenant, endpoint_id)
    if found is None:
        raise Problem("webhook_endpoint_not_found")
    return found


async def find_delivery(
    session: Session, tenant: str, endpoint: WebhookEndpoint, delivery_id: str
) -> WebhookDelivery:
    """404 unless it is one of this endpoint's deliveries."""
    found = None
    if WEBHOOK_DELIVERY_ID.match(delivery_id):
        found = await run_transaction(session, store.get_delivery, tenant, delivery_id)
    if found is None or found.endpoint_id != endpoint.id:
        raise Problem("webhook_delivery_not_found")
    return found


async def create_endpoint(
    session: Session,
    tenant: str,
    endpoint_id: str,
    body: CreateWebhookEndpointRequest,
    settings: Settings,
) -> WebhookEndpoint:
    """A tenant at its quota of endpoints gets 409 ``quota_exceeded``; nothing is stored
    for a refused URL."""
    check_url(body.url, settings)
    return await run_transaction(
        session, _insert_endpoint, tenant, endpoint_id, body, settings.quotas
    )


def _insert_endpoint(
    connection: Connection,
    tenant: str,
    endpoint_id: str,
    body: CreateWebhookEndpointRequest,
    quotas: TenantQuotas,
) -> WebhookEndpoint:
    enforce_quota(connection, tenant, "webhook_endpoints", quotas, endpoint_id)
    return store.create(connection, tenant, endpoint_id, body, _now())


async def update_endpoint(
    session: Session,
    tenant: str,
    endpoint_id: str,
    body: UpdateWebhookEndpointRequest,
    settings: Settings,
) -> WebhookEndpoint:
    await find_endpoint(session, tenant, endpoint_id)
    if body.url is not None:
        check_url(body.url, settings)
    updated = await run_transaction(
        session, store.update_endpoint, tenant, endpoint_id, body, _now()
    )
    if updated is None:  # deleted meanwhile
        raise Problem("webhook_endpoint_not_found")
    return updated


async def delete_endpoint(session: Session, tenant: str, endpoint_id: str) -> None:
    """Its deliveries and their attempts go with it; a delivery saga still running finds
    the endpoint gone at its next attempt and ends."""
    deleted = False
    if WEBHOOK_ENDPOINT_ID.match(endpoint_id):
        deleted = await run_transaction(session, store.delete_endpoint, tenant, endpoint_id)
    if not deleted:
        raise Problem("webhook_endpoint_not_found")


async def rotate_secret(
    session: Session, tenant: str, endpoint_id: str, overlap_seconds: int
) -> WebhookEndpoint:
    await find_endpoint(session, tenant, endpoint_id)
    overlap = timedelta(seconds=overlap_seconds)
    rotated = await run_transaction(
        session, store.rotate_secret, tenant, endpoint_id, overlap, _now()
    )
    if rotated is None:
        raise Problem("webhook_endpoint_not_found")
    return rotated


async def retry_delivery(
    temporal: TemporalConnection,
    settings: Settings,
    tenant: str,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
) -> None:
    """An attempt now. A delivery saga still running is told to stop waiting (its schedule
    goes on if this attempt fails); otherwise a new run under the same workflow id makes one
    manual attempt and ends. One signal-with-start does both, so a saga that ends between
    looking and starting is never missed, and two retries at once share one run."""
    if endpoint.status == "disabled":
        raise Problem("invalid_state", "the endpoint is disabled: enable it first")
    manual = DeliveryInput(
        tenant_id=tenant,
        delivery_id=delivery.id,
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        manual=True,
    )
    with temporal_call():
        client = await temporal.get()
        await client.start_workflow(
            WebhookDeliveryWorkflow.run,
            manual,
            id=webhook_delivery_workflow_id(tenant, delivery.id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal=WebhookDeliveryWorkflow.retry_now.__name__,
            search_attributes=webhook_delivery(tenant, delivery.endpoint_id, delivery.event_type),
            static_summary=f"retry {delivery.event_type} to {delivery.endpoint_id}",
            priority=tenant_priority(tenant),
        )


def _now() -> datetime:
    return datetime.now(UTC)
