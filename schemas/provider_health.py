"""What GET /v1/providers/health answers: each configured provider's circuit breaker."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from pydantic import Field


class BreakerState(StrEnum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls are refused until ``breaker_open_for`` has passed
    HALF_OPEN = "half_open"  # one probe call may go through; the others wait for its answer


class ProviderHealth(BaseModel):
    provider: str
    state: BreakerState
    consecutive_failures: int = Field(ge=0)
    opened_at: datetime | None = None
    last_failure_at: datetime | None = None
    # The provider error's message, shortened; it never carries credentials.
    last_error: str | None = None
    # Webhook requests refused for a bad or stale signature, since the database was made.
    webhook_signature_failures: int = Field(default=0, ge=0)


class ProviderHealthList(BaseModel):
    data: list[ProviderHealth]
