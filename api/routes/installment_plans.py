"""Installment plans: started with their whole schedule, paid early through an update,
resolved by an operator when dunning is exhausted, canceled (no automatic refunds)."""

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Response
from fastapi import status
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from api.auth import TenantDep
from api.customers import SAVED_METHOD_PROBLEMS
from api.dependencies import IdempotentDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import run_transaction
from api.installment_plans import INVOICE_PROBLEMS
from api.installment_plans import start_plan
from api.installment_plans import update_plan
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.query_parameters import CustomerFilter
from api.query_parameters import PageSize
from api.sagas import INSTALLMENT_PLANS
from api.sagas import SagasDep
from schemas.identity import new_installment_plan_id
from schemas.installments import CancelInstallmentPlanRequest
from schemas.installments import CreateInstallmentPlanRequest
from schemas.installments import EarlyPaymentResult
from schemas.installments import InstallmentPlanList
from schemas.installments import InstallmentPlanState
from schemas.installments import OnSessionRetryResult
from schemas.installments import PayInstallmentsRequest
from schemas.installments import ResolveRequest
from workflows.installment_plan.workflow import InstallmentPlanWorkflow

router = APIRouter(prefix="/v1/installment-plans", tags=["installment plans"])

InstallmentPlanIdPath = Annotated[str, Path(description="An installment plan id, `ip_…`")]
UPDATE_PROBLEMS = ("installment_plan_not_found", "invalid_plan_state", "temporal_unavailable")


def action_route(
    path: str, *codes: str, response_model: type[BaseModel] = InstallmentPlanState
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """POST ``path``: an update of the plan, answered with ``response_model`` or a problem of
    UPDATE_PROBLEMS, ``codes`` or the Idempotency-Key's."""
    return router.post(
        path,
        response_model=response_model,
        responses=problems(*UPDATE_PROBLEMS, *codes, *IDEMPOTENCY_PROBLEMS),
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=InstallmentPlanState,
    responses=problems(
        *INVOICE_PROBLEMS,
        "invalid_installments",
        *SAVED_METHOD_PROBLEMS,
        *IDEMPOTENCY_PROBLEMS,
        "temporal_unavailable",
    ),
)
async def create_installment_plan(
    body: CreateInstallmentPlanRequest, once: IdempotentDep, sagas: SagasDep
) -> Response:
    """Pay an invoice (which is locked from now on) or an amount in installments, charged
    in order on their due dates; an installment due now is charged before the answer."""

    async def start(plan_id: str) -> Response:
        return await start_plan(sagas, plan_id, body)

    return await once.create(start, body, new_installment_plan_id)


@router.get("")
async def list_installment_plans(
    tenant: TenantDep,
    session: SessionDep,
    customer_id: CustomerFilter = None,
    invoice_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: PageSize = 100,
) -> InstallmentPlanList:
    """Newest first, as last recorded."""
    plans = await run_transaction(
        session,
        INSTALLMENT_PLANS.read_model.newest,
        tenant,
        limit,
        customer_id=customer_id,
        invoice_id=invoice_id,
    )
    return InstallmentPlanList(data=plans)


@router.get(
    "/{installment_plan_id}",
    responses=problems("installment_plan_not_found", "temporal_unavailable"),
)
async def get_installment_plan(
    sagas: SagasDep, installment_plan_id: InstallmentPlanIdPath
) -> InstallmentPlanState:
    return await sagas.find(INSTALLMENT_PLANS, installment_plan_id)


@action_route(
    "/{installment_plan_id}/payments",
    "installment_out_of_order",
    "amount_exceeds_outstanding",
    response_model=EarlyPaymentResult,
)
async def pay_installments(
    sagas: SagasDep,
    installment_plan_id: InstallmentPlanIdPath,
    once: IdempotentDep,
    body: PayInstallmentsRequest | None = None,
) -> Response:
    """Pay now: by default what remains of the next unpaid installment. More is applied to
    the following installments in order; a fully covered one is not charged on its date."""
    pay = body or PayInstallmentsRequest()
    return await update_plan(sagas, installment_plan_id, InstallmentPlanWorkflow.pay, pay, once)


@action_route("/{installment_plan_id}/cancel")
async def cancel_installment_plan(
    sagas: SagasDep,
    installment_plan_id: InstallmentPlanIdPath,
    once: OptionallyIdempotentDep,
    body: CancelInstallmentPlanRequest | None = None,
) -> Response:
    """Stops every future charge. Paid installments are not refunded automatically: their
    payment ids are in the plan; refund them with `POST /v1/payments/{id}/refunds`."""
    cancel = body or CancelInstallmentPlanRequest()
    return await update_plan(
        sagas, installment_plan_id, InstallmentPlanWorkflow.cancel, cancel, once
    )


@action_route("/{installment_plan_id}/retry-on-session", response_model=OnSessionRetryResult)
async def retry_installment_plan_on_session(
    sagas: SagasDep, installment_plan_id: InstallmentPlanIdPath, once: OptionallyIdempotentDep
) -> Response:
    """The customer is back to finish a charge their saved card declined off-session
    (`authentication_required`): the failed installment (past due or defaulted) is charged
    again at once with the customer present. Its `payment_id` goes `requires_action`: hand
    `GET /v1/payments/{id}/customer-action` to the customer's client, then
    `POST /v1/payments/{id}/confirm`. 409 unless an installment failed and the plan charges
    a saved method."""
    return await update_plan(
        sagas, installment_plan_id, InstallmentPlanWorkflow.retry_on_session, None, once
    )


@action_route("/{installment_plan_id}/resolve")
async def resolve_installment_plan(
    sagas: SagasDep,
    installment_plan_id: InstallmentPlanIdPath,
    body: ResolveRequest,
    once: IdempotentDep,
) -> Response:
    """An operator's decision on a defaulted plan: `retry` now (optionally with a new
    `payment_method`), `waive` the failed installment (no money; the plan goes on), or
    `cancel`."""
    return await update_plan(
        sagas, installment_plan_id, InstallmentPlanWorkflow.resolve, body, once
    )
