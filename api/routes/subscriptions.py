"""Subscriptions: started as a SubscriptionWorkflow, changed through its updates, read from
its query (or the read model once the workflow is gone)."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter
from fastapi import Depends
from fastapi import Path
from fastapi import Query
from fastapi import Response
from fastapi import status
from fastapi.types import DecoratedCallable
from pydantic import BaseModel
from temporalio.common import TypedSearchAttributes

from api import customers
from api.auth import TenantDep
from api.customers import SAVED_METHOD_PROBLEMS
from api.dependencies import IdempotentDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import run_transaction
from api.idempotency import json_response
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.payments import charge_policy
from api.payments import require_enabled_provider
from api.problems import Problem
from api.query_parameters import CustomerFilter
from api.query_parameters import PageSize
from api.records import PLANS
from api.sagas import SUBSCRIPTIONS
from api.sagas import SagasDep
from schemas.billing import DunningPolicy
from schemas.identity import SUBSCRIPTION_ID
from schemas.identity import new_subscription_id
from schemas.money import format_minor
from schemas.subscriptions import CancelSubscriptionRequest
from schemas.subscriptions import ChangePlan
from schemas.subscriptions import ChangePlanRequest
from schemas.subscriptions import CreateSubscriptionRequest
from schemas.subscriptions import PauseRequest
from schemas.subscriptions import SubscriptionInput
from schemas.subscriptions import SubscriptionList
from schemas.subscriptions import SubscriptionState
from schemas.subscriptions import SubscriptionStatus
from schemas.subscriptions import UpdatePaymentMethodRequest
from workflows.subscription.steps import attributes
from workflows.subscription.steps import initial_state
from workflows.subscription.workflow import SubscriptionWorkflow

router = APIRouter(prefix="/v1/subscriptions", tags=["subscriptions"])

SubscriptionIdPath = Annotated[str, Path(description="A subscription id, `sub_…`")]
# A client's clock may lag a little; a start further back would bill for time gone by.
START_TOLERANCE = timedelta(minutes=5)
START_HORIZON = timedelta(days=365)
ACTION_PROBLEMS = (
    "subscription_not_found",
    "invalid_state",
    *IDEMPOTENCY_PROBLEMS,
    "temporal_unavailable",
)


def _start_at(requested: datetime | None, now: datetime) -> datetime:
    if requested is None:
        return now
    start_at = requested if requested.tzinfo else requested.replace(tzinfo=UTC)
    if not now - START_TOLERANCE <= start_at <= now + START_HORIZON:
        raise Problem(
            "invalid_start_at", "start_at must lie between a few minutes ago and one year ahead"
        )
    return start_at


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=SubscriptionState,
    responses=problems(
        "plan_not_found",
        "invalid_start_at",
        *SAVED_METHOD_PROBLEMS,
        *IDEMPOTENCY_PROBLEMS,
        "temporal_unavailable",
    ),
)
async def create_subscription(
    body: CreateSubscriptionRequest, once: IdempotentDep, sagas: SagasDep
) -> Response:
    """Subscribe a customer to a plan: a trial (if any), then a charge at the start of each
    period, with dunning when one fails."""
    now = datetime.now(UTC)
    # Refused before the key is claimed: a bad request writes nothing at all.
    start_at = _start_at(body.start_at, now)
    plan = await PLANS.find(sagas.session, sagas.tenant, body.plan_id)
    saved = await customers.named_method(
        sagas.session, sagas.tenant, body.customer, body.payment_method
    )
    if saved is not None:
        require_enabled_provider(sagas.settings, saved.provider)

    async def start(subscription_id: str) -> Response:
        sub = SubscriptionInput(
            subscription_id=subscription_id,
            tenant_id=sagas.tenant,
            customer_id=body.customer_id,
            plan=plan,
            payment_method=body.payment_method if saved is None else saved.method_reference,
            saved_method=saved,
            start_at=start_at,
            trial_days=plan.trial_days if body.trial_days is None else body.trial_days,
            on_dunning_exhausted=body.on_dunning_exhausted,
            dunning=DunningPolicy.from_days(sagas.settings.dunning_retry_days),
            charge_policy=charge_policy(sagas.settings),
            created_at=now,
        )
        state = initial_state(sub)

        async def accepted() -> SubscriptionState:
            return state  # a subscription answers at once, with the state it starts in

        await sagas.start(
            SUBSCRIPTIONS,
            sub,
            subscription_id,
            summary=(
                f"{plan.name}: {format_minor(plan.amount, plan.currency)} every "
                f"{plan.interval_count} {plan.interval}"
            ),
            search_attributes=TypedSearchAttributes(attributes(state)),
            accepted=accepted,
        )
        return json_response(state, status.HTTP_201_CREATED)

    return await once.create(start, body, new_subscription_id)


@router.get("")
async def list_subscriptions(
    tenant: TenantDep,
    session: SessionDep,
    customer_id: CustomerFilter = None,
    status_filter: Annotated[SubscriptionStatus | None, Query(alias="status")] = None,
    limit: PageSize = 100,
) -> SubscriptionList:
    """The tenant's subscriptions from the read model, newest first."""
    found = await run_transaction(
        session,
        SUBSCRIPTIONS.read_model.newest,
        tenant,
        limit,
        customer_id=customer_id,
        status=status_filter.value if status_filter else None,
    )
    return SubscriptionList(data=found)


@router.get("/{subscription_id}", responses=problems("subscription_not_found"))
async def get_subscription(
    sagas: SagasDep, subscription_id: SubscriptionIdPath
) -> SubscriptionState:
    return await sagas.find(SUBSCRIPTIONS, subscription_id)


@dataclass(frozen=True)
class SubscriptionAction:
    """An update sent to one of the tenant's subscriptions: its workflow's validator refuses
    what the subscription's state does not allow."""

    sagas: SagasDep
    subscription_id: SubscriptionIdPath
    once: OptionallyIdempotentDep

    def check_id(self) -> None:
        """404 for an id no subscription can have, before anything else is asked."""
        if not SUBSCRIPTION_ID.match(self.subscription_id):
            raise Problem("subscription_not_found")

    async def update(
        self, update: object, argument: BaseModel | None, sent: BaseModel | None
    ) -> Response:
        self.check_id()

        async def run() -> Response:
            updated = await self.sagas.update(
                SUBSCRIPTIONS, self.subscription_id, update, argument, self.once.key
            )
            return json_response(updated)

        return await self.once.run(run, sent)


SubscriptionActionDep = Annotated[SubscriptionAction, Depends()]


def action_route(path: str, *codes: str) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """POST ``path``: an update of the subscription, answered with its state or a problem of
    ACTION_PROBLEMS (and ``codes``)."""
    return router.post(
        path, response_model=SubscriptionState, responses=problems(*ACTION_PROBLEMS, *codes)
    )


@action_route("/{subscription_id}/pause", "invalid_resume_at")
async def pause_subscription(
    subscription: SubscriptionActionDep, body: PauseRequest | None = None
) -> Response:
    """Stop charging: each period starting while paused is skipped. `resume_at` resumes
    automatically."""
    return await subscription.update(SubscriptionWorkflow.pause, body or PauseRequest(), body)


@action_route("/{subscription_id}/resume")
async def resume_subscription(subscription: SubscriptionActionDep) -> Response:
    """Charge again from the next period boundary (boundaries never move)."""
    return await subscription.update(SubscriptionWorkflow.resume, None, None)


@action_route("/{subscription_id}/cancel")
async def cancel_subscription(
    subscription: SubscriptionActionDep, body: CancelSubscriptionRequest | None = None
) -> Response:
    """Cancel now (no refund of the current period) or at the period's end."""
    cancel = body or CancelSubscriptionRequest()
    return await subscription.update(SubscriptionWorkflow.cancel, cancel, body)


@action_route("/{subscription_id}/retry-on-session")
async def retry_subscription_on_session(subscription: SubscriptionActionDep) -> Response:
    """The customer is back to finish a charge their saved card declined off-session
    (`authentication_required`): the past-due period is charged again at once with the
    customer present. Its `payment_id` (in the period) goes `requires_action`: hand
    `GET /v1/payments/{id}/customer-action` to the customer's client, then
    `POST /v1/payments/{id}/confirm`. 409 unless past due with a saved method."""
    return await subscription.update(SubscriptionWorkflow.retry_on_session, None, None)


@action_route("/{subscription_id}/payment-method")
async def update_subscription_payment_method(
    subscription: SubscriptionActionDep, body: UpdatePaymentMethodRequest
) -> Response:
    """A new card; a past-due or unpaid period is charged with it at once."""
    return await subscription.update(SubscriptionWorkflow.update_payment_method, body, body)


@action_route(
    "/{subscription_id}/change-plan",
    "plan_not_found",
    "plan_unchanged",
    "plan_change_not_supported",
)
async def change_subscription_plan(
    subscription: SubscriptionActionDep, body: ChangePlanRequest
) -> Response:
    """Move to another plan of the same currency and interval. A paid period's unused part
    is credited at the old price and charged at the new one, on the next period's charge."""
    subscription.check_id()
    sagas = subscription.sagas
    plan = await PLANS.find(sagas.session, sagas.tenant, body.plan_id)
    return await subscription.update(SubscriptionWorkflow.change_plan, ChangePlan(plan=plan), body)
