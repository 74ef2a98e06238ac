"""Payments: start the saga, act on it through updates and signals, read it from a query."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Query
from fastapi import Request
from fastapi import Response
from fastapi import status
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from api import customers
from api import payments
from api.auth import CredentialDep
from api.auth import TenantDep
from api.customers import SAVED_METHOD_PROBLEMS
from api.dependencies import IdempotentDep
from api.dependencies import ProvidersDep
from api.dependencies import SessionDep
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import PaymentActionDep
from api.payments import PaymentIdPath
from api.payments import providers_taking
from api.query_parameters import CustomerFilter
from api.query_parameters import PageSize
from api.sagas import PAYMENTS
from api.sagas import SagasDep
from schemas.identity import PAYMENT_ID
from schemas.identity import new_payment_id
from schemas.payments import CancelRequest
from schemas.payments import CaptureRequest
from schemas.payments import CreatePaymentRequest
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.provider import CustomerAction
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


def action_route(
    path: str, *codes: str, status_code: int | None = None
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """POST ``path``: an action on the payment, answered with the payment or a problem of
    ACTION_PROBLEMS (and ``codes``)."""
    return router.post(
        path,
        status_code=status_code,
        response_model=PaymentState,
        responses=problems(*ACTION_PROBLEMS, *codes),
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
            "currency_not_supported",
            "amount_not_representable",
            *SAVED_METHOD_PROBLEMS,
            *IDEMPOTENCY_PROBLEMS,
            "temporal_unavailable",
        ),
    },
)
async def create_payment(
    body: CreatePaymentRequest, once: IdempotentDep, sagas: SagasDep, session: SessionDep
) -> Response:
    """Start a payment saga and answer at its first milestone (or 202 while it runs).

    With `customer`, `payment_method` names one of its saved methods (`spm_…`), charged at
    the provider holding it with the customer's mirror there."""
    saved = await customers.named_method(session, sagas.tenant, body.customer, body.payment_method)

    async def start(payment_id: str) -> Response:
        bind_log_context(payment_id=payment_id)
        return await payments.start_payment(sagas, body, payment_id, saved)

    return await once.create(start, body, new_payment_id, replay_202=False)


@router.get("", responses=problems("invalid_cursor"))
def get_payments(
    tenant: TenantDep,
    session: SessionDep,
    status_filter: Annotated[PaymentStatus | None, Query(alias="status")] = None,
    customer_id: CustomerFilter = None,
    limit: PageSize = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PaymentList:
    states, next_cursor = payments.list_payments(
        session, tenant, status_filter, customer_id, limit, cursor
    )
    return PaymentList(data=states, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/{payment_id}", responses=problems("payment_not_found", "temporal_unavailable"))
async def get_payment(sagas: SagasDep, payment_id: PaymentIdPath) -> PaymentState:
    return await sagas.find(PAYMENTS, payment_id)


@action_route("/{payment_id}/capture", "amount_exceeds_authorized", "amount_not_representable")
async def capture_payment(
    payment: PaymentActionDep, body: CaptureRequest | None = None
) -> Response:
    """Capture all or part of the authorized amount (manual capture)."""
    capture = body or CaptureRequest()

    def exact(state: PaymentState) -> None:
        if capture.amount is not None:
            providers_taking([state.provider], capture.amount, state.currency)

    return await payment.update(PaymentWorkflow.capture, capture, body, exact)


@action_route("/{payment_id}/cancel")
async def cancel_payment(payment: PaymentActionDep, body: CancelRequest | None = None) -> Response:
    """Cancel a payment that has not been captured: the authorization is voided."""
    return await payment.update(PaymentWorkflow.cancel, body or CancelRequest(), body)


@action_route("/{payment_id}/review")
async def review_payment(
    payment: PaymentActionDep, credential: CredentialDep, body: ReviewRequest | None = None
) -> Response:
    """Approve or reject a payment the risk rules held for review (status ``in_review``).

    Approve: the payment is captured (or waits for a manual capture); reject: the
    authorization is voided and the payment declined (``review_rejected``). Who (the API key
    that acted, and the ``reviewer`` name if given), when and why are kept in the payment's
    ``review``. The body is required; it is checked once the payment is known to be in
    review."""
    return await payment.review(body, credential)


@action_route("/{payment_id}/confirm", status_code=status.HTTP_202_ACCEPTED)
async def confirm_payment(payment: PaymentActionDep) -> Response:
    """Tell the saga the customer finished the provider's action; it then asks the provider."""
    return await payment.confirm()


@router.get(
    "/{payment_id}/customer-action",
    response_model=CustomerAction,
    response_model_exclude_none=True,
    responses=problems(
        "payment_not_found",
        "invalid_state",
        "provider_not_configured",
        "provider_unavailable",
        "temporal_unavailable",
    ),
)
async def get_customer_action(
    sagas: SagasDep, providers: ProvidersDep, payment_id: PaymentIdPath
) -> Response:
    """What the customer's client needs to finish a `requires_action` payment: a page to send
    the customer to (`redirect_to_url`), or for Stripe.js `handleNextAction` the
    PaymentIntent's client secret (`use_stripe_sdk`). Asked of the provider on each call and
    kept nowhere; answered with `Cache-Control: no-store`. Only the payment's own tenant
    sees it (another tenant's payment is 404)."""
    payment = await sagas.find(PAYMENTS, payment_id)
    action = await payments.customer_action(payment, providers)
    body = action.model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
