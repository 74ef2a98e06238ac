"""Subscriptions: started as a SubscriptionWorkflow, changed through its updates, read from
its query (or the read model once the workflow is gone)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from temporalio.client import (
    Client,
)
from temporalio.common import (
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from api.auth import TenantDep
from api.dependencies import IdempotencyDep, SessionDep, SettingsDep, TemporalDep
from api.idempotency import execute_once, fingerprint, json_response
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.problems import Problem
from api.routes.payments import IdempotencyKey, OptionalIdempotencyKey
from api.routes.plans import plan_not_found
from api.subscription_reads import (
    read_subscription,
    stored_plan,
    stored_subscription,
    stored_subscriptions,
)
from api.workflow_updates import execute_update
from schemas import errors
from schemas.billing import DunningPolicy
from schemas.identity import new_subscription_id, subscription_workflow_id
from schemas.money import format_minor
from schemas.subscriptions import (
    CancelSubscriptionRequest,
    ChangePlan,
    ChangePlanRequest,
    CreateSubscriptionRequest,
    PauseRequest,
    SubscriptionInput,
    SubscriptionList,
    SubscriptionState,
    SubscriptionStatus,
    UpdatePaymentMethodRequest,
)
from workflows.subscription.steps import attributes, initial_state
from workflows.subscription.workflow import SubscriptionWorkflow

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])

SubscriptionIdPath = Annotated[str, Path(description="A subscription id, `sub_…`")]
# A client's clock may lag a little; a start further back would bill for time gone by.
START_TOLERANCE = timedelta(minutes=5)
START_HORIZON = timedelta(days=365)
# A refusal by an update's validator, by its code.
REFUSALS = {
    "invalid_state": (409, "Subscription is not in a state for this"),
    "plan_unchanged": (422, "The subscription is on this plan already"),
    "plan_change_not_supported": (422, "Plans can change only within a currency and interval"),
    "invalid_resume_at": (422, "resume_at must be in the future"),
}
ACTION_PROBLEMS = (
    "subscription_not_found",
    "invalid_state",
    *IDEMPOTENCY_PROBLEMS,
    "temporal_unavailable",
)


def subscription_not_found() -> Problem:
    return Problem(404, "subscription_not_found", "No such subscription")


def _start_at(requested: datetime | None, now: datetime) -> datetime:
    if requested is None:
        return now
    start_at = requested if requested.tzinfo else requested.replace(tzinfo=UTC)
    if not now - START_TOLERANCE <= start_at <= now + START_HORIZON:
        raise Problem(
            422,
            "invalid_start_at",
            "start_at is out of range",
            "start_at must lie between a few minutes ago and one year ahead",
        )
    return start_at


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionState,
    responses=problems(
        "plan_not_found", "invalid_start_at", *IDEMPOTENCY_PROBLEMS, "temporal_unavailable"
    ),
)
async def create_subscription(
    tenant: TenantDep,
    body: CreateSubscriptionRequest,
    idempotency_key: IdempotencyKey,
    request: Request,
    temporal: TemporalDep,
    settings: SettingsDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
) -> Response:
    """Subscribe a customer to a plan: a trial (if any), then a charge at the start of each
    period, with dunning when one fails."""
    now = datetime.now(UTC)
    # Refused before the key is claimed: a bad request writes nothing at all.
    start_at = _start_at(body.start_at, now)
    plan = await run_in_threadpool(stored_plan, session, tenant, body.plan_id)
    if plan is None:
        raise plan_not_found()

    async def start(subscription_id: str | None) -> Response:
        sub = SubscriptionInput(
            subscription_id=str(subscription_id),
            tenant_id=tenant,
            customer_id=body.customer_id,
            plan=plan,
            payment_method=body.payment_method,
            start_at=start_at,
            trial_days=plan.trial_days if body.trial_days is None else body.trial_days,
            on_dunning_exhausted=body.on_dunning_exhausted,
            dunning=DunningPolicy.from_days(settings.dunning_retry_days),
            created_at=now,
        )
        state = initial_state(sub)
        try:
            await temporal.start_workflow(
                SubscriptionWorkflow.run,
                sub,
                id=subscription_workflow_id(tenant, sub.subscription_id),
                task_queue=settings.task_queue,
                # A retry after a lost answer joins the subscription it started.
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=TypedSearchAttributes(attributes(state)),
                static_summary=(
                    f"{plan.name}: {format_minor(plan.amount, plan.currency)} every "
                    f"{plan.interval_count} {plan.interval}"
                ),
            )
        except RPCError as e:
            raise Problem(503, "temporal_unavailable", "Temporal is unreachable", e.message) from e
        return json_response(state, status.HTTP_201_CREATED)

    return await execute_once(
        idempotency,
        tenant,
        idempotency_key,
        fingerprint(request, body),
        start,
        new_resource_id=new_subscription_id(),
    )


@router.get("", response_model=SubscriptionList)
async def list_subscriptions(
    tenant: TenantDep,
    session: SessionDep,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    status_filter: Annotated[SubscriptionStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> SubscriptionList:
    """The tenant's subscriptions from the read model, newest first."""
    found = await run_in_threadpool(
        stored_subscriptions,
        session,
        tenant,
        customer_id,
        status_filter.value if status_filter else None,
        limit,
    )
    return SubscriptionList(data=found)


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionState,
    responses=problems("subscription_not_found"),
)
async def get_subscription(
    tenant: TenantDep,
    subscription_id: SubscriptionIdPath,
    session: SessionDep,
    temporal: TemporalDep,
) -> SubscriptionState:
    state = await read_subscription(session, temporal, tenant, subscription_id)
    if state is None:
        raise subscription_not_found()
    return state


class _Action:
    """Sends one update to a subscription's workflow, once per Idempotency-Key."""

    def __init__(self, tenant, subscription_id, request, session, temporal, idempotency):
        self.tenant, self.subscription_id = tenant, subscription_id
        self.request, self.session = request, session
        self.temporal: Client = temporal
        self.idempotency = idempotency

    async def send(self, update, argument: BaseModel | None, key: str | None, sent) -> Response:
        async def run(_: str | None) -> Response:
            return json_response(await self._update(update, argument, key))

        if key is None:
            return await run(None)
        return await execute_once(
            self.idempotency, self.tenant, key, fingerprint(self.request, sent), run
        )

    async def _update(self, update, argument, key: str | None) -> SubscriptionState:
        workflow_id = subscription_workflow_id(self.tenant, self.subscription_id)
        return await execute_update(
            self.temporal.get_workflow_handle(workflow_id),
            update,
            [] if argument is None else [argument],
            f"{update.__name__}:{key}" if key else None,
            refusal=_refusal,
            finished=self._finished,
        )

    async def _finished(self) -> Problem:
        """No running workflow: a canceled subscription, or none of this tenant's."""
        stored = await run_in_threadpool(
            stored_subscription, self.session, self.tenant, self.subscription_id
        )
        if stored is None:
            return subscription_not_found()
        return Problem(
            409, "invalid_state", REFUSALS["invalid_state"][1], f"subscription is {stored.status}"
        )


def _refusal(cause: ApplicationError) -> Problem | None:
    if cause.type != errors.REJECTED:
        return None
    refused = cause.details[0] if cause.details else {}
    code = refused.get("code", "invalid_state")
    status_code, title = REFUSALS.get(code, REFUSALS["invalid_state"])
    return Problem(status_code, code, title, refused.get("message"))


def _action(tenant, subscription_id, request, session, temporal, idempotency) -> _Action:
    if not subscription_id.startswith("sub_"):
        raise subscription_not_found()
    return _Action(tenant, subscription_id, request, session, temporal, idempotency)


@router.post(
    "/{subscription_id}/pause",
    response_model=SubscriptionState,
    responses=problems(*ACTION_PROBLEMS, "invalid_resume_at"),
)
async def pause_subscription(
    tenant: TenantDep,
    subscription_id: SubscriptionIdPath,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
    body: PauseRequest | None = None,
) -> Response:
    """Stop charging: each period starting while paused is skipped. `resume_at` resumes
    automatically."""
    action = _action(tenant, subscription_id, request, session, temporal, idempotency)
    return await action.send(
        SubscriptionWorkflow.pause, body or PauseRequest(), idempotency_key, body
    )


@router.post(
    "/{subscription_id}/resume",
    response_model=SubscriptionState,
    responses=problems(*ACTION_PROBLEMS),
)
async def resume_subscription(
    tenant: TenantDep,
    subscription_id: SubscriptionIdPath,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    """Charge again from the next period boundary (boundaries never move)."""
    action = _action(tenant, subscription_id, request, session, temporal, idempotency)
    return await action.send(SubscriptionWorkflow.resume, None, idempotency_key, None)


@router.post(
    "/{subscription_id}/cancel",
    response_model=SubscriptionState,
    responses=problems(*ACTION_PROBLEMS),
)
async def cancel_subscription(
    tenant: TenantDep,
    subscription_id: SubscriptionIdPath,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
    body: CancelSubscriptionRequest | None = None,
) -> Response:
    """Cancel now (no refund of the current period) or at the period's end."""
    action = _action(tenant, subscription_id, request, session, temporal, idempotency)
    return await action.send(
        SubscriptionWorkflow.cancel, body or CancelSubscriptionRequest(), idempotency_key, body
    )


@router.post(
    "/{subscription_id}/payment-method",
    response_model=SubscriptionState,
    responses=problems(*ACTION_PROBLEMS),
)
async def update_subscription_payment_method(
    tenant: TenantDep,
    subscription_id: SubscriptionIdPath,
    body: UpdatePaymentMethodRequest,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    """A new card; a past-due or unpaid period is charged with it at once."""
    action = _action(tenant, subscription_id, request, session, temporal, idempotency)
    return await action.send(
        SubscriptionWorkflow.update_payment_method, body, idempotency_key, body
    )


@router.post(
    "/{subscription_id}/change-plan",
    response_model=SubscriptionState,
    responses=problems(
        *ACTION_PROBLEMS, "plan_not_found", "plan_unchanged", "plan_change_not_supported"
    ),
)
async def change_subscription_plan(
    tenant: TenantDep,
    subscription_id: SubscriptionIdPath,
    body: ChangePlanRequest,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    """Move to another plan of the same currency and interval. A paid period's unused part
    is credited at the old price and charged at the new one, on the next period's charge."""
    action = _action(tenant, subscription_id, request, session, temporal, idempotency)
    plan = await run_in_threadpool(stored_plan, session, tenant, body.plan_id)
    if plan is None:
        raise plan_not_found()
    return await action.send(
        SubscriptionWorkflow.change_plan, ChangePlan(plan=plan), idempotency_key, body
    )
