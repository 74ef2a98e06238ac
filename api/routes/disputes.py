"""Disputes: mirrored from the provider by DisputeWorkflow (driven by the provider's events);
read from the read model (and the saga's query), answered through the saga's updates."""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Query
from fastapi import Response

from api.auth import TenantDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import transact
from api.idempotency import json_response
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import decode_cursor
from api.payments import encode_cursor
from api.problems import Problem
from api.query_parameters import PageSize
from api.sagas import DISPUTES
from api.sagas import Sagas
from api.sagas import SagasDep
from schemas.disputes import DisputeEvidence
from schemas.disputes import DisputeList
from schemas.disputes import DisputeState
from schemas.disputes import DisputeStatus
from workflows.dispute.workflow import DisputeWorkflow

router = APIRouter(prefix="/v1/disputes", tags=["disputes"])

DisputeIdPath = Annotated[str, Path(description="A dispute id, `dsp_…`")]
ANSWER_PROBLEMS = problems(
    "dispute_not_found",
    "dispute_closed",
    "dispute_refused",
    *IDEMPOTENCY_PROBLEMS,
    "temporal_unavailable",
)


@router.get("", responses=problems("invalid_cursor"))
def list_disputes(
    tenant: TenantDep,
    session: SessionDep,
    status_filter: Annotated[DisputeStatus | None, Query(alias="status")] = None,
    payment_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: PageSize = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> DisputeList:
    """The tenant's disputes, newest first, a page at a time."""
    states, last = transact(
        session,
        DISPUTES.read_model.page,
        tenant,
        limit,
        None if cursor is None else decode_cursor(cursor),
        status=status_filter.value if status_filter else None,
        payment_id=payment_id,
    )
    next_cursor = None if last is None else encode_cursor(*last)
    return DisputeList(data=states, has_more=next_cursor is not None, next_cursor=next_cursor)


@router.get("/{dispute_id}", responses=problems("dispute_not_found", "temporal_unavailable"))
async def get_dispute(sagas: SagasDep, dispute_id: DisputeIdPath) -> DisputeState:
    return await sagas.find(DISPUTES, dispute_id)


@router.post("/{dispute_id}/evidence", response_model=DisputeState, responses=ANSWER_PROBLEMS)
async def submit_evidence(
    sagas: SagasDep, once: OptionallyIdempotentDep, dispute_id: DisputeIdPath, body: DisputeEvidence
) -> Response:
    """Send evidence to the provider (`submit: false` only stages it there). Refused once
    the dispute is closed, as the provider refuses it."""

    async def run() -> Response:
        await _open(sagas, dispute_id)
        return json_response(
            await sagas.update(
                DISPUTES, dispute_id, DisputeWorkflow.submit_evidence, body, once.key
            )
        )

    return await once.run(run, body)


@router.post("/{dispute_id}/accept", response_model=DisputeState, responses=ANSWER_PROBLEMS)
async def accept_dispute(
    sagas: SagasDep, once: OptionallyIdempotentDep, dispute_id: DisputeIdPath
) -> Response:
    """Concede the dispute: the provider closes it as lost and the money stays withdrawn."""

    async def run() -> Response:
        await _open(sagas, dispute_id)
        return json_response(
            await sagas.update(DISPUTES, dispute_id, DisputeWorkflow.accept, None, once.key)
        )

    return await once.run(run, None)


async def _open(sagas: Sagas, dispute_id: str) -> DisputeState:
    """The dispute while it can still be answered: 404 for none of the tenant's, 409 once
    the provider has closed it."""
    state = await sagas.find(DISPUTES, dispute_id)
    if state.status.is_final:
        raise Problem("dispute_closed", f"the dispute is {state.status}")
    return state
