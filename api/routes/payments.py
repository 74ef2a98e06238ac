"""Payments: start the saga, act on it through updates and signals, read it from a query."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Query
from fastapi import Request
from fastapi import Response
from fastapi import status
from pydantic import BaseModel

from api import payments
from api.auth import TenantDep
from api.dependencies import IdempotentDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import PaymentIdPath
from api.sagas import PAYMENTS
from api.sagas import SagasDep
from schemas.identity import PAYMENT_ID
from schemas.identity import new_payment_id
from schemas.payments import CancelRequest
from schemas.payments import CaptureRequest
from schemas.payments import CreatePaymentRequest
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.risk_review import ReviewRequest
from schemas.runtime.log_context import bind_log_context
from workflows.payment.workflow import PaymentWorkflow


async def _log_payment_id(request: Request) -> None:
    """Lines about one payment name it (only a well-formed id: the path is the caller's).
    Async: a sync dependency runs in a thread, whose context the route never sees."""
    payment_id = request.path_params.get("payment_id")
    if payment_id and PAYMENT_ID.match(payment_id):
        bind_log_context(payment_id=payment_id)


router = APIRouter(
    prefix="/v1/payments", tags=["payments"], dependencies=[Depends(_log_payment_id)]
)


class PaymentList(BaseModel):
    data: list[PaymentState]
    has_more: bool
    next_cursor: str | None = None


# What a client (and Schemathesis's stateful run) can do next with a created payment.
NEXT_STEPS = {
    name: {"operationId": name, "parameters": {"payment_id": "$response.body#/payment_id"}}
    for name in ("get_payment", "capture_payment", "cancel_payment", "confirm_payment")
}
ACTION_PROBLEMS = (
    "payment_not_found",
    "invalid_state",
    *IDEMPOTENCY_PROBLEMS,
    "temporal_unavailable",
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PaymentState,
    responses={
        201: {"links": NEXT_STEPS},
        202: {
            "model": PaymentState,
            "description": "Accepted: the saga is still processing",
            "links": NEXT_STEPS,
        },
        **problems(
            "invalid_amount",
            "invalid_currency",
            "invalid_payment_method",
            "invalid_metadata",
            "no_eligible_provider",
            *IDEMPOTENCY_PROBLEMS,
            "temporal_unavailable",
        ),
    },
)
async def create_payment(
    body: CreatePaymentRequest, once: IdempotentDep, sagas: SagasDep
) -> Response:
    """Start a payment saga and answer at its first milestone (or 202 while it runs)."""

    async def start(payment_id: str) -> Response:
        bind_log_context(payment_id=payment_id)
        return await payments.start_payment(sagas, body, payment_id)

    return await once.create(start, body, new_payment_id, replay_202=False)


@router.get(
    "",
    response_model=PaymentList,
    responses=problems("invalid_cursor"),
)
def get_payments(
    tenant: TenantDep,
    session: SessionDep,
    status_filter: Annotated[PaymentStatus | None, Query(alias="status")] = None,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PaymentList:
    states, next_cursor = payments.list_payments(
        session, tenant, status_filter, customer_id, limit, cursor
    )
    return PaymentList(data=states, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get(
    "/{payment_id}",
    response_model=PaymentState,
    responses=problems("payment_not_found", "temporal_unavailable"),
)
async def get_payment(sagas: SagasDep, payment_id: PaymentIdPath) -> PaymentState:
    return await sagas.find(PAYMENTS, payment_id)


@router.post(
    "/{payment_id}/capture",
    response_model=PaymentState,
    responses=problems(*ACTION_PROBLEMS, "amount_exceeds_authorized"),
)
async def capture_payment(
    sagas: SagasDep,
    payment_id: PaymentIdPath,
    once: OptionallyIdempotentDep,
    body: CaptureRequest | None = None,
) -> Response:
    """Capture all or part of the authorized amount (manual capture)."""
    capture = body or CaptureRequest()
    return await payments.update(sagas, payment_id, PaymentWorkflow.capture, capture, once, body)


@router.post(
    "/{payment_id}/cancel", response_model=PaymentState, responses=problems(*ACTION_PROBLEMS)
)
async def cancel_payment(
    sagas: SagasDep,
    payment_id: PaymentIdPath,
    once: OptionallyIdempotentDep,
    body: CancelRequest | None = None,
) -> Response:
    """Cancel a payment that has not been captured: the authorization is voided."""
    cancel = body or CancelRequest()
    return await payments.update(sagas, payment_id, PaymentWorkflow.cancel, cancel, once, body)


@router.post(
    "/{payment_id}/review", response_model=PaymentState, responses=problems(*ACTION_PROBLEMS)
)
async def review_payment(
    sagas: SagasDep,
    payment_id: PaymentIdPath,
    once: OptionallyIdempotentDep,
    body: ReviewRequest | None = None,
) -> Response:
    """Approve or reject a payment the risk rules held for review (status ``in_review``).

    Approve: the payment is captured (or waits for a manual capture); reject: the
    authorization is voided and the payment declined (``review_rejected``). Who, when and why
    are kept in the payment's ``review``. The body is required; it is checked once the payment
    is known to be in review."""
    return await payments.review(sagas, payment_id, body, once)


@router.post(
    "/{payment_id}/confirm",
    response_model=PaymentState,
    status_code=202,
    responses=problems(*ACTION_PROBLEMS),
)
async def confirm_payment(
    sagas: SagasDep, payment_id: PaymentIdPath, once: OptionallyIdempotentDep
) -> Response:
    """Tell the saga the customer finished the provider's action; it then asks the provider."""
    return await payments.confirm(sagas, payment_id, once)
