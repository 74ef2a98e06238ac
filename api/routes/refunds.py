"""Refunds: admitted and run by RefundWorkflow; read from the read model (and its query)."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Response
from fastapi import status

from api.auth import TenantDep
from api.dependencies import IdempotentDep
from api.dependencies import SessionDep
from api.dependencies import run_transaction
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import PaymentIdPath
from api.payments import providers_taking
from api.payments import wrong_state
from api.problems import Problem
from api.sagas import PAYMENTS
from api.sagas import REFUNDS
from api.sagas import Sagas
from api.sagas import SagasDep
from api.sagas import created_or_accepted
from schemas.identity import new_refund_id
from schemas.payments import REFUNDABLE_STATUSES
from schemas.payments import PaymentState
from schemas.refunds import CreateRefundRequest
from schemas.refunds import RefundInput
from schemas.refunds import RefundList
from schemas.refunds import RefundState
from schemas.store.refunds import held_amount
from schemas.store.refunds import refunds_of
from workflows.kit import search_attributes

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
            "amount_not_representable",
            "insufficient_balance",
            *IDEMPOTENCY_PROBLEMS,
            "ledger_unavailable",
            "temporal_unavailable",
        ),
    },
)
async def create_refund(
    payment_id: PaymentIdPath,
    once: IdempotentDep,
    sagas: SagasDep,
    body: CreateRefundRequest | None = None,
) -> Response:
    """Refund all or part of a captured payment; any number of partial refunds, never more
    in total than was captured (even when requests race: admission is serialized)."""
    body = body or CreateRefundRequest()

    async def start(refund_id: str) -> Response:
        payment = await _precheck(sagas, payment_id, body)
        refund = RefundInput(
            refund_id=refund_id,
            tenant_id=sagas.tenant,
            payment_id=payment_id,
            amount=body.amount,
            reason=body.reason,
            provider_deadline=sagas.settings.provider_deadline,
        )
        state = await sagas.start(
            REFUNDS,
            refund,
            refund_id,
            summary=f"refund of {payment_id}",
            search_attributes=search_attributes.money_movement(
                sagas.tenant, payment.currency, body.amount, payment.provider
            ),
        )
        return created_or_accepted(state)

    return await once.create(start, body, new_refund_id, replay_202=False)


async def _precheck(sagas: Sagas, payment_id: str, body: CreateRefundRequest) -> PaymentState:
    """Refuse the obvious cases without starting anything; races are decided by the saga
    (what admitted refunds hold is a pre-check only: the reserve step decides under the
    payment's lock)."""
    payment = await sagas.stored(PAYMENTS, payment_id)
    if payment is None:
        raise Problem("payment_not_found")
    if payment.status not in REFUNDABLE_STATUSES:
        raise wrong_state(payment.status, "succeeded or partially_refunded")
    held = await run_transaction(sagas.session, held_amount, sagas.tenant, payment_id)
    refundable = payment.captured_amount - held
    if refundable <= 0 or (body.amount or 0) > refundable:
        raise Problem(
            "amount_exceeds_refundable",
            f"refund of {body.amount or 'the rest'} exceeds the refundable {refundable} "
            f"({payment.currency}, minor units)",
        )
    if body.amount is not None:
        # The same exactness as the charge: the refund goes out in the provider's decimals.
        providers_taking([payment.provider], body.amount, payment.currency)
    return payment


@router.get("/v1/payments/{payment_id}/refunds", responses=problems("payment_not_found"))
async def list_payment_refunds(
    tenant: TenantDep, payment_id: PaymentIdPath, session: SessionDep
) -> RefundList:
    if await run_transaction(session, PAYMENTS.read_model.get, tenant, payment_id) is None:
        raise Problem("payment_not_found")
    return RefundList(data=await run_transaction(session, refunds_of, tenant, payment_id))


@router.get(
    "/v1/refunds/{refund_id}", responses=problems("refund_not_found", "temporal_unavailable")
)
async def get_refund(sagas: SagasDep, refund_id: RefundIdPath) -> RefundState:
    return await sagas.find(REFUNDS, refund_id)
