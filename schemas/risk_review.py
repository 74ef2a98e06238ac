"""Manual review of a payment the risk rules sent to review: the operator's
decision, sent as the ``review`` update, and the audit record kept in the payment's state.

A tenant decides through ``POST /v1/payments/{id}/review`` (``channel`` "api"); a platform
operator through ``POST /v1/admin/tenants/{tenant}/payments/{id}/review`` (``channel``
"operator") or the Temporal UI / CLI (``temporal workflow update execute --name review --input
'{"decision": "approve", "reviewer": "alice", "reason": "known customer"}'``).
"""

from datetime import datetime
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from schemas.card_data import free_text

ReviewVerdict = Literal["approve", "reject"]
ReviewTimeoutAction = Literal["approve", "reject"]
DEFAULT_REVIEW_TIMEOUT = timedelta(hours=24)

ReviewReason = free_text(500, min_length=1, strip_whitespace=True)
Reviewer = free_text(100, min_length=1, strip_whitespace=True)


class ReviewRequest(BaseModel):
    """Body of ``POST /v1/payments/{id}/review``."""

    model_config = ConfigDict(extra="forbid")

    decision: ReviewVerdict
    reason: ReviewReason = Field(description="why: kept in the payment's audit record")
    reviewer: Reviewer | None = Field(
        default=None,
        description=(
            "who decided, as the tenant names them: kept as `reviewer_name`; the review's "
            "`reviewer` is always the API key that sent it"
        ),
    )


class ReviewDecision(BaseModel):
    """Input of the ``review`` update of PaymentWorkflow."""

    model_config = ConfigDict(extra="forbid")

    decision: ReviewVerdict
    # Through the API: the credential that acted (``api_key:<id>``, or the admin key's
    # fingerprint through the admin API); through Temporal: the platform operator's name.
    reviewer: Reviewer
    reason: ReviewReason
    channel: Literal["api", "operator", "temporal"] = "temporal"
    # The name a tenant gave beside its credential, unverified.
    reviewer_name: Reviewer | None = None


class ReviewRecord(BaseModel):
    """The review of one payment: opened by the rules, closed by an operator or the clock."""

    opened_at: datetime
    deadline: datetime
    timeout_action: ReviewTimeoutAction
    decision: ReviewVerdict | None = None
    reviewer: str | None = None
    # The name the tenant gave (``ReviewRequest.reviewer``), unverified; None otherwise.
    reviewer_name: str | None = None
    reason: str | None = None
    channel: Literal["api", "operator", "temporal", "timeout"] | None = None
    decided_at: datetime | None = None
