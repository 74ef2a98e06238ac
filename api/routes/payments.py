"""Payments: start the saga, act on it through updates and signals, read it from a query."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status
from pydantic import BaseModel
from temporalio.client import (
    WithStartWorkflowOperation,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.providers.registry import configured_providers
from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.payment_actions import ActionDep, PaymentIdPath, not_found
from api.payment_reads import list_payments, read_payment
from api.problems import Problem
from schemas.domain.routing import NoEligibleProvider, route
from schemas.identity import PAYMENT_ID, new_payment_id, payment_workflow_id
from schemas.money import format_minor
from schemas.payments import (
    CancelRequest,
    CaptureRequest,
    CreatePaymentRequest,
    PaymentInput,
    PaymentState,
    PaymentStatus,
)
from schemas.risk_review import ReviewRequest
from schemas.runtime.log_context import bind_log_context
from schemas.runtime.tracing import current_trace_id
from workflows.kit import search_attributes
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

IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=255)]
OptionalIdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


class PaymentList(BaseModel):
    data: list[PaymentState]
    has_more: bool
    next_cursor: str | None = None


# What a client (and Schemathesis's stateful run) can do next with a created payment.
NEXT_STEPS = {
    name: {"operationId": name, "parameters": {"payment_id": "$response.body#/payment_id"}}
    for name in ("get_payment", "capture_payment", "cancel_payment", "confirm_payment")
}


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
    tenant: TenantDep,
    body: CreatePaymentRequest,
    idempotency_key: IdempotencyKey,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Start a payment saga and answer at its first milestone (or 202 while it runs)."""

    async def start(payment_id: str | None) -> Response:
        # new_resource_id below: the key always stands for a payment id here.
        bind_log_context(payment_id=payment_id)
        state, code = await _start_payment(
            body, str(payment_id), tenant, temporal, settings, session
        )
        return json_response(state, code)

    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        start,
        new_resource_id=new_payment_id(),
        replay_202=False,
    )


async def _start_payment(
    body: CreatePaymentRequest, payment_id: str, tenant: str, temporal, settings, session
) -> tuple[PaymentState, int]:
    try:
        providers = route(
            settings.routing,
            configured_providers(settings),
            tenant=tenant,
            currency=body.currency,
            payment_method=body.payment_method,
            requested=body.provider,
        )
    except NoEligibleProvider as e:
        raise Problem(422, "no_eligible_provider", str(e)) from None
    payment = PaymentInput(
        **body.model_dump(exclude={"provider"}),
        provider=providers[0],
        fallback_providers=providers[1:],
        payment_id=payment_id,
        tenant_id=tenant,
        authorization_hold=settings.authorization_hold,
        action_timeout=settings.action_timeout,
        review_timeout=settings.fraud.review_timeout,
        review_timeout_action=settings.fraud.review_timeout_action,
        provider_deadline=settings.provider_deadline,
        # The request's trace: operators go from the payment to its spans and log lines.
        trace_id=current_trace_id(),
    )
    workflow_id = payment_workflow_id(tenant, payment_id)
    start = WithStartWorkflowOperation(
        PaymentWorkflow.run,
        payment,
        id=workflow_id,
        task_queue=settings.task_queue,
        # A retried request joins the running saga; a finished one is never started again.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=search_attributes.at_start(payment),
        # Shown in the Temporal UI's list, so operators read payments without decoding input.
        static_summary=(
            f"{format_minor(payment.amount, payment.currency)} via {payment.provider}, "
            f"{payment.capture_method} capture"
        ),
    )
    try:
        async with asyncio.timeout(settings.create_wait.total_seconds()):
            state = await temporal.execute_update_with_start_workflow(
                PaymentWorkflow.wait_for_milestone, start_workflow_operation=start
            )
            return state, status.HTTP_201_CREATED
    except (WorkflowAlreadyStartedError, TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        # Finished long ago, or still processing: answer with what is known now. (When our
        # timeout cancels the wait, the client raises its own error instead of CancelledError,
        # so asyncio.timeout() does not turn it into TimeoutError: no worker ran it yet.)
        state = await read_payment(session, temporal, tenant, payment_id)
        if state is None:
            state = await _accepted_state(temporal, workflow_id, payment)
        if state.status == PaymentStatus.PROCESSING:
            return state, status.HTTP_202_ACCEPTED
        return state, status.HTTP_201_CREATED
    except RPCError as e:
        raise Problem(503, "temporal_unavailable", "Temporal is unreachable", e.message) from e


async def _accepted_state(temporal, workflow_id: str, payment: PaymentInput) -> PaymentState:
    """The saga started but no worker has reported yet (overload): 202, never a false 503."""
    try:
        description = await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError:
        raise Problem(503, "temporal_unavailable", "The payment could not be started") from None
    started = description.start_time
    return PaymentState(
        **payment.model_dump(include=set(PaymentState.model_fields)),
        created_at=started,
        updated_at=started,
    )


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
    states, next_cursor = list_payments(session, tenant, status_filter, customer_id, limit, cursor)
    return PaymentList(data=states, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get(
    "/{payment_id}",
    response_model=PaymentState,
    responses=problems("payment_not_found", "temporal_unavailable"),
)
async def get_payment(
    tenant: TenantDep, payment_id: PaymentIdPath, session: SessionDep, temporal: TemporalDep
) -> PaymentState:
    state = await read_payment(session, temporal, tenant, payment_id)
    if state is None:
        raise not_found()
    return state


@router.post(
    "/{payment_id}/capture",
    response_model=PaymentState,
    responses=problems(
        "payment_not_found",
        "invalid_state",
        "amount_exceeds_authorized",
        *IDEMPOTENCY_PROBLEMS,
        "temporal_unavailable",
    ),
)
async def capture_payment(
    action: ActionDep,
    idempotency_key: OptionalIdempotencyKey = None,
    body: CaptureRequest | None = None,
) -> Response:
    """Capture all or part of the authorized amount (manual capture)."""
    return await action.update(
        PaymentWorkflow.capture, body or CaptureRequest(), idempotency_key, body
    )


@router.post(
    "/{payment_id}/cancel",
    response_model=PaymentState,
    responses=problems(
        "payment_not_found", "invalid_state", *IDEMPOTENCY_PROBLEMS, "temporal_unavailable"
    ),
)
async def cancel_payment(
    action: ActionDep,
    idempotency_key: OptionalIdempotencyKey = None,
    body: CancelRequest | None = None,
) -> Response:
    """Cancel a payment that has not been captured: the authorization is voided."""
    return await action.update(
        PaymentWorkflow.cancel, body or CancelRequest(), idempotency_key, body
    )


@router.post(
    "/{payment_id}/review",
    response_model=PaymentState,
    responses=problems(
        "payment_not_found", "invalid_state", *IDEMPOTENCY_PROBLEMS, "temporal_unavailable"
    ),
)
async def review_payment(
    action: ActionDep,
    idempotency_key: OptionalIdempotencyKey = None,
    body: ReviewRequest | None = None,
) -> Response:
    """Approve or reject a payment the risk rules held for review (status ``in_review``).

    Approve: the payment is captured (or waits for a manual capture); reject: the
    authorization is voided and the payment declined (``review_rejected``). Who, when and why
    are kept in the payment's ``review``. The body is required; it is checked once the payment
    is known to be in review."""
    return await action.review(body, idempotency_key)


@router.post(
    "/{payment_id}/confirm",
    response_model=PaymentState,
    status_code=202,
    responses=problems(
        "payment_not_found", "invalid_state", *IDEMPOTENCY_PROBLEMS, "temporal_unavailable"
    ),
)
async def confirm_payment(
    action: ActionDep, idempotency_key: OptionalIdempotencyKey = None
) -> Response:
    """Tell the saga the customer finished the provider's action; it then asks the provider."""
    return await action.once(idempotency_key, None, action.confirm)
