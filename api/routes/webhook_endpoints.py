"""Webhook endpoints and their deliveries (``api/webhook_endpoints.py`` says how URLs are
checked and how a delivery is retried)."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Response
from fastapi import status

from api import webhook_endpoints
from api.auth import TenantDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalConnectionDep
from api.dependencies import run_transaction
from api.idempotency import json_response
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import decode_cursor
from api.payments import encode_cursor
from api.query_parameters import PageSize
from schemas.identity import new_webhook_endpoint_id
from schemas.store import webhook_endpoints as store
from schemas.webhook_endpoints import CreateWebhookEndpointRequest
from schemas.webhook_endpoints import DeliveryStatus
from schemas.webhook_endpoints import RotateSecretRequest
from schemas.webhook_endpoints import UpdateWebhookEndpointRequest
from schemas.webhook_endpoints import WebhookDelivery
from schemas.webhook_endpoints import WebhookDeliveryList
from schemas.webhook_endpoints import WebhookEndpoint
from schemas.webhook_endpoints import WebhookEndpointList

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhook endpoints"])

EndpointIdPath = Annotated[str, Path(description="A webhook endpoint id, `we_…`")]
DeliveryIdPath = Annotated[str, Path(description="A webhook delivery id, `whd_…`")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookEndpoint,
    responses=problems("invalid_webhook_url", "quota_exceeded", *IDEMPOTENCY_PROBLEMS),
)
async def create_webhook_endpoint(
    body: CreateWebhookEndpointRequest,
    session: SessionDep,
    once: OptionallyIdempotentDep,
    settings: SettingsDep,
) -> Response:
    """An endpoint receiving the events it subscribes to, each signed per Standard Webhooks
    with its `secret` (`whsec_…`), which is in this answer only. The URL must be https and
    its host public. A tenant at its quota of endpoints gets 409 `quota_exceeded`."""

    async def store_it(endpoint_id: str) -> Response:
        created = await webhook_endpoints.create_endpoint(
            session, once.tenant, endpoint_id, body, settings
        )
        return json_response(created, status.HTTP_201_CREATED)

    return await once.create(store_it, body, new_webhook_endpoint_id)


@router.get("")
async def list_webhook_endpoints(
    tenant: TenantDep, session: SessionDep, limit: PageSize = 100
) -> WebhookEndpointList:
    """The tenant's endpoints, newest first (without their secrets)."""
    return WebhookEndpointList(data=await run_transaction(session, store.newest, tenant, limit))


@router.get("/{endpoint_id}", responses=problems("webhook_endpoint_not_found"))
async def get_webhook_endpoint(
    tenant: TenantDep, endpoint_id: EndpointIdPath, session: SessionDep
) -> WebhookEndpoint:
    return await webhook_endpoints.find_endpoint(session, tenant, endpoint_id)


@router.patch(
    "/{endpoint_id}", responses=problems("webhook_endpoint_not_found", "invalid_webhook_url")
)
async def update_webhook_endpoint(
    tenant: TenantDep,
    endpoint_id: EndpointIdPath,
    body: UpdateWebhookEndpointRequest,
    session: SessionDep,
    settings: SettingsDep,
) -> WebhookEndpoint:
    """Change the fields sent. `disabled: true` stops its deliveries; `disabled: false`
    enables it again with its failure clock reset."""
    return await webhook_endpoints.update_endpoint(session, tenant, endpoint_id, body, settings)


@router.delete(
    "/{endpoint_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problems("webhook_endpoint_not_found"),
)
async def delete_webhook_endpoint(
    tenant: TenantDep, endpoint_id: EndpointIdPath, session: SessionDep
) -> Response:
    """The endpoint, its deliveries and their attempts are deleted; nothing more is sent."""
    await webhook_endpoints.delete_endpoint(session, tenant, endpoint_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpoint,
    responses=problems("webhook_endpoint_not_found", *IDEMPOTENCY_PROBLEMS),
)
async def rotate_webhook_secret(
    endpoint_id: EndpointIdPath,
    session: SessionDep,
    once: OptionallyIdempotentDep,
    body: RotateSecretRequest | None = None,
) -> Response:
    """A new `secret`, in this answer only. For `overlap_seconds` (default a day, 0: none)
    every delivery carries a signature with the replaced secret too, so receivers can switch
    without missing one. Send an Idempotency-Key: a rotation repeated by a retry would end
    the overlap of the secret receivers still use."""
    overlap = (body or RotateSecretRequest()).overlap_seconds

    async def rotate() -> Response:
        rotated = await webhook_endpoints.rotate_secret(session, once.tenant, endpoint_id, overlap)
        return json_response(rotated)

    return await once.run(rotate, body)


@router.get(
    "/{endpoint_id}/deliveries",
    responses=problems("webhook_endpoint_not_found", "invalid_cursor"),
)
async def list_webhook_deliveries(
    tenant: TenantDep,
    endpoint_id: EndpointIdPath,
    session: SessionDep,
    status_filter: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    limit: PageSize = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> WebhookDeliveryList:
    """The endpoint's deliveries with their attempts, newest first, a page at a time."""
    endpoint = await webhook_endpoints.find_endpoint(session, tenant, endpoint_id)
    deliveries, last = await run_transaction(
        session,
        store.list_deliveries,
        tenant,
        endpoint.id,
        limit,
        None if cursor is None else decode_cursor(cursor),
        status_filter,
    )
    next_cursor = None if last is None else encode_cursor(*last)
    return WebhookDeliveryList(
        data=deliveries, has_more=next_cursor is not None, next_cursor=next_cursor
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=WebhookDelivery,
    responses=problems(
        "webhook_endpoint_not_found",
        "webhook_delivery_not_found",
        "invalid_state",
        "temporal_unavailable",
    ),
)
async def retry_webhook_delivery(
    tenant: TenantDep,
    endpoint_id: EndpointIdPath,
    delivery_id: DeliveryIdPath,
    session: SessionDep,
    settings: SettingsDep,
    temporal: TemporalConnectionDep,
) -> Response:
    """Attempt the delivery now, whatever its status: a delivery still being retried stops
    waiting for its next attempt; any other gets one attempt more. 202 with the delivery as
    it was; its attempts show the outcome. A disabled endpoint is a 409 `invalid_state`."""
    endpoint = await webhook_endpoints.find_endpoint(session, tenant, endpoint_id)
    delivery = await webhook_endpoints.find_delivery(session, tenant, endpoint, delivery_id)
    await webhook_endpoints.retry_delivery(temporal, settings, tenant, endpoint, delivery)
    return json_response(delivery, status.HTTP_202_ACCEPTED)
