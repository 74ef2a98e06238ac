"""Refunds: admitted and run by RefundWorkflow; read from the read model (and its query)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.payment_actions import PaymentIdPath, not_found, wrong_state
from api.payment_reads import stored_payment
from api.problems import Problem
from api.refund_reads import held_by_refunds, payment_refunds, read_refund
from api.routes.payments import IdempotencyKey
from api.saga_start import rejection, start_and_wait
from schemas.identity import new_refund_id, refund_workflow_id
from schemas.payments import REFUNDABLE_STATUSES, PaymentState
from schemas.refunds import CreateRefundRequest, RefundInput, RefundList, RefundState
from workflows.kit import search_attributes
from workflows.refund.workflow import RefundWorkflow

router = APIRouter(tags=["refunds"])

RefundIdPath = Annotated[str, Path(description="A refund id, `re_…`")]


@router.post(
    "/v1/payments/{payment_id}/refunds",
    status_code=status.HTTP_201_CREATED,
    response_model=RefundState,
    responses={
        202: {"model": RefundState, "description": "Accepted: the provider has not answered yet"},
        **problems(
            "payment_not_found",
            "invalid_state",
            "amount_exceeds_refundable",
            "insufficient_balance",
            *IDEMPOTENCY_PROBLEMS,
            "ledger_unavailable",
            "temporal_unavailable",
        ),
    },
)
async def create_refund(
    tenant: TenantDep,
    payment_id: PaymentIdPath,
    idempotency_key: IdempotencyKey,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
    body: CreateRefundRequest | None = None,
) -> Response:
    """Refund all or part of a captured payment; any number of partial refunds, never more
    in total than was captured (even when requests race: admission is serialized)."""
    body = body or CreateRefundRequest()

    async def start(refund_id: str | None) -> Response:
        payment = await _precheck(session, tenant, payment_id, body)
        refund = RefundInput(
            refund_id=str(refund_id),
            tenant_id=tenant,
            payment_id=payment_id,
            amount=body.amount,
            reason=body.reason,
            provider_deadline=settings.provider_deadline,
        )
        filed_under = search_attributes.money_movement(
            tenant, payment.currency, body.amount, payment.provider
        )
        state = await _run(temporal, settings, session, refund, filed_under)
        code = status.HTTP_202_ACCEPTED if not state.status.is_final else status.HTTP_201_CREATED
        return json_response(state, code)

    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        start,
        new_resource_id=new_refund_id(),
        replay_202=False,
    )


async def _precheck(
    session, tenant: str, payment_id: str, body: CreateRefundRequest
) -> PaymentState:
    """Refuse the obvious cases without starting anything; races are decided by the saga."""
    payment = await run_in_threadpool(stored_payment, session, tenant, payment_id)
    if payment is None:
        raise not_found()
    if payment.status not in REFUNDABLE_STATUSES:
        raise wrong_state(payment.status, "succeeded or partially_refunded")
    held = await run_in_threadpool(held_by_refunds, session, tenant, payment_id)
    refundable = payment.captured_amount - held
    if refundable <= 0 or (body.amount or 0) > refundable:
        raise rejection(
            "amount_exceeds_refundable",
            f"refund of {body.amount or 'the rest'} exceeds the refundable {refundable} "
            f"({payment.currency}, minor units)",
        )
    return payment


async def _run(temporal, settings, session, refund: RefundInput, filed_under) -> RefundState:
    async def stored() -> RefundState | None:
        return await read_refund(session, temporal, refund.tenant_id, refund.refund_id)

    def accepted() -> RefundState:
        now = datetime.now(UTC)
        return RefundState(
            **refund.model_dump(include={"refund_id", "tenant_id", "payment_id", "reason"}),
            amount=refund.amount or 0,
            created_at=now,
            updated_at=now,
        )

    return await start_and_wait(
        temporal,
        settings,
        RefundWorkflow,
        refund,
        refund_workflow_id(refund.tenant_id, refund.refund_id),
        f"refund of {refund.payment_id}",
        stored,
        accepted,
        filed_under,
    )


@router.get(
    "/v1/payments/{payment_id}/refunds",
    response_model=RefundList,
    responses=problems("payment_not_found"),
)
async def list_payment_refunds(
    tenant: TenantDep, payment_id: PaymentIdPath, session: SessionDep
) -> RefundList:
    if await run_in_threadpool(stored_payment, session, tenant, payment_id) is None:
        raise not_found()
    return RefundList(data=await run_in_threadpool(payment_refunds, session, tenant, payment_id))


@router.get(
    "/v1/refunds/{refund_id}",
    response_model=RefundState,
    responses=problems("refund_not_found", "temporal_unavailable"),
)
async def get_refund(
    tenant: TenantDep, refund_id: RefundIdPath, session: SessionDep, temporal: TemporalDep
) -> RefundState:
    state = await read_refund(session, temporal, tenant, refund_id)
    if state is None:
        raise Problem(404, "refund_not_found", "No such refund")
    return state
