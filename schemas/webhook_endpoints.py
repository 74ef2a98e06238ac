"""Webhook endpoints (where a tenant wants its events pushed) and their deliveries: the
bodies of ``/v1/webhook-endpoints``, and what the delivery saga and its activity exchange.

A delivery's workflow carries ids only: the signing secrets and the event's body are read
from SQL by the activity, so no secret and no object state sit in Temporal's history."""

from datetime import datetime
from datetime import timedelta
from typing import Annotated
from typing import Literal

from pydantic import AfterValidator
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictInt

from schemas.card_data import free_text
from schemas.events import EventSelector

EndpointStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]
# Standard Webhooks: a delivery not answered in 10 s is a failed attempt.
ATTEMPT_TIMEOUT = timedelta(seconds=10)
# How long a delivery is retried, and how long an endpoint may fail every delivery before
# it is disabled.
RETRY_WINDOW = timedelta(days=3)
# What is kept of each answer.
RESPONSE_EXCERPT_BYTES = 1024
# How long the replaced secret still signs after a rotation, unless the request says.
DEFAULT_ROTATION_OVERLAP = timedelta(hours=24)
MAX_ROTATION_OVERLAP = timedelta(days=7)


def _distinct(names: list[str]) -> list[str]:
    return sorted(set(names))


EnabledEvents = Annotated[
    list[EventSelector],
    Field(min_length=1, max_length=64),
    AfterValidator(_distinct),
]
EndpointUrl = Annotated[str, Field(min_length=8, max_length=2048)]


class CreateWebhookEndpointRequest(BaseModel):
    """Body of ``POST /v1/webhook-endpoints``."""

    model_config = ConfigDict(extra="forbid")

    url: EndpointUrl
    enabled_events: EnabledEvents = Field(
        default_factory=lambda: ["*"],
        description="Event types (`payment.succeeded`), families (`refund.*`) or `*`",
    )
    description: free_text(500) | None = None


class UpdateWebhookEndpointRequest(BaseModel):
    """Body of ``PATCH /v1/webhook-endpoints/{id}``: only the fields sent change. Enabling a
    disabled endpoint starts its failure clock again."""

    model_config = ConfigDict(extra="forbid")

    url: EndpointUrl | None = None
    enabled_events: EnabledEvents | None = None
    description: free_text(500) | None = None
    disabled: StrictBool | None = None


class RotateSecretRequest(BaseModel):
    """Body of ``POST /v1/webhook-endpoints/{id}/rotate-secret``: during ``overlap_seconds``
    every delivery is signed with both the new and the replaced secret."""

    model_config = ConfigDict(extra="forbid")

    overlap_seconds: Annotated[
        StrictInt, Field(ge=0, le=int(MAX_ROTATION_OVERLAP.total_seconds()))
    ] = int(DEFAULT_ROTATION_OVERLAP.total_seconds())


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    enabled_events: list[str]
    description: str | None = None
    status: EndpointStatus
    disabled_reason: str | None = None
    # Shown once: in the answer of the create and of the rotation.
    secret: str | None = None
    previous_secret_expires_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpoint]


class DeliveryAttempt(BaseModel):
    number: int
    at: datetime
    status_code: int | None = None
    latency_ms: int
    error: str | None = None
    response_excerpt: str | None = None
    manual: bool = False


class WebhookDelivery(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: list[DeliveryAttempt]
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookDeliveryList(BaseModel):
    data: list[WebhookDelivery]
    has_more: bool
    next_cursor: str | None = None


class DeliveryInput(BaseModel):
    """The delivery saga's input: ids only. ``manual``: one attempt now (``…/retry`` of a
    delivery whose saga has ended), no schedule after it."""

    tenant_id: str
    delivery_id: str
    endpoint_id: str
    event_id: str
    event_type: str
    manual: bool = False


class AttemptCommand(BaseModel):
    tenant_id: str
    delivery_id: str
    # The workflow's clock: when the attempt is made, what the endpoint's failure clock reads.
    at: datetime
    manual: bool = False
    # The next attempt's time if this one fails, recorded with it (None: none follows).
    next_attempt_at: datetime | None = None
    # The last attempt of the schedule: when it fails the delivery has failed.
    last: bool = False


AttemptResult = Literal["delivered", "failed", "endpoint_gone"]


class AttemptOutcome(BaseModel):
    """``endpoint_gone``: deleted or disabled, nothing was sent and nothing will be."""

    result: AttemptResult
    status_code: int | None = None
    endpoint_disabled: bool = False


class DeliveryState(BaseModel):
    delivery_id: str
    status: DeliveryStatus
    attempts: int
