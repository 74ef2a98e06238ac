"""Payments: starting the saga (its providers routed here), the actions on it, the list.

With an Idempotency-Key an action runs once and its answer is replayed; the key also names
the Temporal update, so the workflow runs it once per key too.
"""

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated
from typing import Literal

from fastapi import Depends
from fastapi import Path
from fastapi import Request
from fastapi import Response
from fastapi import status
from pydantic import BaseModel
from sqlmodel import Session
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from activities.providers.registry import configured_providers
from activities.providers.registry import provider_currencies
from api.dependencies import IdempotencyDep
from api.dependencies import OptionalIdempotencyKey
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalDep
from api.dependencies import transact
from api.idempotency import Idempotent
from api.idempotency import json_response
from api.problems import Problem
from api.provider_answers import adapter_of
from api.sagas import PAYMENTS
from api.sagas import Sagas
from api.sagas import SagasDep
from api.sagas import state_from_input
from schemas.billing import ChargePolicy
from schemas.customers import OffSessionMethod
from schemas.domain.routing import NoEligibleProvider
from schemas.domain.routing import route
from schemas.money import AmountNotRepresentable
from schemas.money import CurrencyNotSupported
from schemas.money import format_minor
from schemas.payments import CreatePaymentRequest
from schemas.payments import PaymentInput
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.provider import CustomerAction
from schemas.risk_review import ReviewDecision
from schemas.risk_review import ReviewRequest
from schemas.runtime.log_context import bind_log_context
from schemas.runtime.settings import Settings
from schemas.runtime.tracing import current_trace_id
from workflows.kit import search_attributes
from workflows.payment.workflow import PaymentWorkflow

# Any string: an id that is not ours answers 404, exactly like one that is not there.
PaymentIdPath = Annotated[str, Path(description="A payment id, `pay_…`")]


def require_enabled_provider(settings: Settings, provider: str) -> None:
    """422 for a provider this deployment does not run (the sandbox where real money moves,
    a provider without credentials), before anything is stored or reserved."""
    if provider not in configured_providers(settings):
        raise Problem("provider_disabled", f"provider {provider!r} is not enabled here")


def charge_policy(settings: Settings) -> ChargePolicy:
    """What a subscription's or installment plan's charges carry: the routing and limits
    every ``payment_input`` gets, applied by the saga to each charge."""
    return ChargePolicy(
        routing=settings.routing,
        configured=configured_providers(settings),
        authorization_hold=settings.authorization_hold,
        provider_deadline=settings.provider_deadline,
        review_timeout=settings.fraud.review_timeout,
        review_timeout_action=settings.fraud.review_timeout_action,
    )


def providers_taking(providers: list[str], amount: int, currency: str) -> list[str]:
    """The routed providers whose API can carry ``amount`` exactly, in order; 422 when none
    can (the first one's reason), before anything is stored. A provider's decimals differ
    from ISO 4217 for a few currencies, and rounding would charge a different amount."""
    able: list[str] = []
    refusal: Problem | None = None
    for name in providers:
        try:
            provider_currencies(name).to_provider(amount, currency)
        except CurrencyNotSupported as e:
            refusal = refusal or Problem("currency_not_supported", str(e))
        except AmountNotRepresentable as e:
            refusal = refusal or Problem("amount_not_representable", str(e))
        else:
            able.append(name)
    if refusal is not None and not able:
        raise refusal
    return able


def payment_input(
    body: CreatePaymentRequest,
    payment_id: str,
    tenant: str,
    settings: Settings,
    saved: OffSessionMethod | None = None,
) -> PaymentInput:
    """``saved``: the customer's saved method the body names, charged at its provider."""
    if saved is not None:
        require_enabled_provider(settings, saved.provider)
        body = body.model_copy(
            update={"payment_method": saved.method_reference, "provider": saved.provider}
        )
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
        raise Problem("no_eligible_provider", str(e)) from None
    providers = providers_taking(providers, body.amount, body.currency)
    return PaymentInput(
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
        provider_customer=None if saved is None else saved.customer_reference,
    )


async def start_payment(
    sagas: Sagas,
    body: CreatePaymentRequest,
    payment_id: str,
    saved: OffSessionMethod | None = None,
) -> Response:
    """201 at the payment's first milestone; 202 while it is still processing."""
    payment = payment_input(body, payment_id, sagas.tenant, sagas.settings, saved)

    async def accepted() -> PaymentState:
        """The saga started but no worker has reported yet (overload): 202, never a false
        503 (Temporal is asked whether it started)."""
        started = (await sagas.handle(PAYMENTS, payment_id).describe()).start_time
        return state_from_input(PaymentState, payment, started)

    state = await sagas.start(
        PAYMENTS,
        payment,
        payment_id,
        summary=(
            f"{format_minor(payment.amount, payment.currency)} via {payment.provider}, "
            f"{payment.capture_method} capture"
        ),
        search_attributes=search_attributes.at_start(payment),
        accepted=accepted,
    )
    processing = state.status == PaymentStatus.PROCESSING
    return json_response(state, status.HTTP_202_ACCEPTED if processing else status.HTTP_201_CREATED)


def wrong_state(current: PaymentStatus, expected: str) -> Problem:
    return Problem("invalid_state", f"payment is {current.value}; this needs {expected}")


@dataclass(frozen=True)
class PaymentAction:
    """An action on one of the tenant's payments (a route gets it as ``PaymentActionDep``)."""

    sagas: SagasDep
    payment_id: PaymentIdPath
    once: OptionallyIdempotentDep

    async def update(
        self,
        update: object,
        argument: BaseModel,
        sent: BaseModel | None,
        check: Callable[[PaymentState], None] | None = None,
    ) -> Response:
        """``update``: a PaymentWorkflow update method, e.g. ``PaymentWorkflow.capture``;
        ``check``: refuses the action for this payment (a Problem) before it is sent."""

        async def run() -> Response:
            state = await self._state()
            if state.status.is_final:
                raise wrong_state(state.status, "requires_capture or requires_action")
            if check is not None:
                check(state)
            return json_response(await self._update(update, argument))

        return await self.once.run(run, sent)

    async def review(
        self,
        body: ReviewRequest | None,
        credential: str,
        channel: Literal["api", "operator"] = "api",
    ) -> Response:
        """A decision on a payment held for review, sent as the ``review`` update: the
        tenant's (``channel`` "api") or a platform operator's through the admin API
        ("operator"); the reviewer is ``credential``, the key that acted, never the client's
        text."""

        async def run() -> Response:
            state = await self._state()
            if state.status != PaymentStatus.IN_REVIEW:
                raise wrong_state(state.status, "in_review")
            # Optional in the schema so that a payment that is not there is a 404 first.
            if body is None:
                raise Problem(
                    "validation_error",
                    "body: a review needs a decision and a reason",
                    errors=[{"field": "body", "message": "Field required", "type": "missing"}],
                )
            decision = ReviewDecision(
                decision=body.decision,
                reason=body.reason,
                reviewer=credential,
                reviewer_name=body.reviewer,
                channel=channel,
            )
            return json_response(await self._update(PaymentWorkflow.review, decision))

        return await self.once.run(run, body)

    async def confirm(self) -> Response:
        """The customer finished the provider's action: the saga is told (a signal) and asks
        the provider; 202 with the payment as it was."""

        async def run() -> Response:
            state = await self._state()
            if state.status != PaymentStatus.REQUIRES_ACTION:
                raise wrong_state(state.status, "requires_action")
            await self.sagas.signal(PAYMENTS, self.payment_id, PaymentWorkflow.confirm)
            return json_response(state, status.HTTP_202_ACCEPTED)

        return await self.once.run(run, None)

    async def _state(self) -> PaymentState:
        return await self.sagas.find(PAYMENTS, self.payment_id)

    async def _update(self, update: object, argument: BaseModel) -> PaymentState:
        return await self.sagas.update(PAYMENTS, self.payment_id, update, argument, self.once.key)


PaymentActionDep = Annotated[PaymentAction, Depends()]


async def operator_payment_action(
    tenant_id: Annotated[str, Path(max_length=64, description="The payment's tenant")],
    payment_id: PaymentIdPath,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    store: IdempotencyDep,
    key: OptionalIdempotencyKey = None,
) -> PaymentAction:
    """An action on any tenant's payment, for the admin API (whose routes require the admin
    key): the tenant comes from the path, its Idempotency-Keys are that tenant's."""
    bind_log_context(tenant_id=tenant_id)
    sagas = Sagas(tenant_id, session, temporal, settings)
    return PaymentAction(sagas, payment_id, Idempotent(store, request, tenant_id, key))


OperatorPaymentActionDep = Annotated[PaymentAction, Depends(operator_payment_action)]


def list_payments(
    session: Session,
    tenant: str,
    status_filter: PaymentStatus | None,
    customer_id: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[PaymentState], str | None]:
    """Newest first, a page at a time; the cursor says where the last page ended."""
    states, last = transact(
        session,
        PAYMENTS.read_model.page,
        tenant,
        limit,
        None if cursor is None else decode_cursor(cursor),
        status=status_filter.value if status_filter else None,
        customer_id=customer_id,
    )
    return states, None if last is None else encode_cursor(*last)


def encode_cursor(created_at: datetime, payment_id: str) -> str:
    """Where a page of a read model's list ended (any saga's: its creation time and id)."""
    raw = f"{created_at.isoformat()}|{payment_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created_at, payment_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(created_at), payment_id
    except (ValueError, UnicodeDecodeError):
        raise Problem("invalid_cursor") from None


async def customer_action(
    payment: PaymentState, providers: dict[str, PaymentProvider]
) -> CustomerAction:
    """The provider's answer for a payment waiting for its customer; 409 for any other."""
    action = None
    if payment.status == PaymentStatus.REQUIRES_ACTION and payment.provider_reference:
        adapter = adapter_of(providers, payment.provider)
        try:
            action = await adapter.customer_action(payment.provider_reference)
        except ApplicationError as failed:
            raise Problem("provider_unavailable", str(failed)) from None
    if action is None:
        raise Problem("invalid_state", f"the payment is {payment.status.value}, with no action")
    return action
