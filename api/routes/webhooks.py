"""Provider webhooks in: verify the signature on the raw body, store the event once, and hand
it to the saga it concerns as a signal.

No API key here: the provider's signature is the authentication. A bad or stale signature
answers 400 and leaves nothing but a counter; a redelivered event answers 200 and does
nothing; an event about an object paysaga does not know is stored and acknowledged, so the
provider stops retrying it. Whose saga an event concerns comes from our records of the
provider object, never from the ids in its metadata alone (``find_payment``).
"""

import logging
from typing import Literal

from fastapi import APIRouter
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from activities.providers.base import PaymentProvider
from api import connected_accounts
from api.dependencies import EngineDep
from api.dependencies import ProvidersDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalConnection
from api.dependencies import TemporalConnectionDep
from api.metrics import webhook_rejected
from api.openapi import problems
from api.problems import Problem
from api.sagas import temporal_call
from api.sagas import tenant_priority
from schemas.disputes import DisputeInput
from schemas.identity import PAYMENT_ID
from schemas.identity import dispute_id
from schemas.identity import dispute_workflow_id
from schemas.identity import payment_workflow_id
from schemas.identity import settlement_workflow_id
from schemas.payments import ProviderName
from schemas.provider_events import ProviderEvent
from schemas.provider_events import WebhookSignatureError
from schemas.store.webhook_events import TargetMismatch
from schemas.store.webhook_events import count_rejection
from schemas.store.webhook_events import find_payment
from schemas.store.webhook_events import find_settlement_subject
from schemas.store.webhook_events import finish_event
from schemas.store.webhook_events import record_dispute
from schemas.store.webhook_events import store_event
from workflows.dispute.workflow import DisputeWorkflow
from workflows.kit import search_attributes
from workflows.payment.workflow import PaymentWorkflow
from workflows.settlement.workflow import SettlementWorkflow

log = logging.getLogger("paysaga.api.webhooks")

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

# ``target_mismatch``: the event's ids name another tenant's or payment's object than our
# records hold for the provider object it is about; acknowledged (a redelivery would say
# the same), stored and logged, never handed on.
WebhookOutcome = Literal[
    "signaled", "recorded", "unknown_object", "ignored", "duplicate", "target_mismatch"
]
# Events a payment saga (or, once it has ended, its read model) takes.
PAYMENT_EVENTS = frozenset(
    {
        "action_completed",
        "payment_authorized",
        "payment_captured",
        "payment_failed",
        "payment_canceled",
        "dispute_opened",
    }
)
# Events about a provider dispute its own saga (DisputeWorkflow) takes.
DISPUTE_EVENTS = frozenset({"dispute_opened", "dispute_updated", "dispute_closed"})
# What the provider reports after a refund's or payout's saga ended: a settlement saga's.
SETTLEMENT_EVENTS = frozenset({"refund_failed", "payout_failed", "payout_paid"})


class WebhookReceipt(BaseModel):
    event_id: str
    event_type: str
    outcome: WebhookOutcome


@router.post(
    "/{provider}",
    responses=problems(
        "provider_not_configured",
        "invalid_webhook_signature",
        "too_many_rejected_webhooks",
        "temporal_unavailable",
        "provider_unavailable",
    ),
)
async def receive_webhook(
    provider: ProviderName,
    request: Request,
    engine: EngineDep,
    providers: ProvidersDep,
    temporal: TemporalConnectionDep,
    settings: SettingsDep,
) -> WebhookReceipt:
    """Receive one event from a payment provider (its signature authenticates it)."""
    adapter = providers.get(provider)
    if adapter is None:
        raise Problem("provider_not_configured", f"{provider} is not configured here")
    # Only the address: a forger must not be able to throttle the provider's own deliveries.
    address = request.client.host if request.client else None
    rejections = request.app.state.webhook_rejections
    rejections.check(None, address, code="too_many_rejected_webhooks")
    body = await request.body()
    try:
        event = await adapter.verify_webhook(request.headers, body)
    except WebhookSignatureError as e:
        rejections.failed(None, address)
        await run_in_threadpool(count_rejection, engine, provider)
        webhook_rejected(request, provider)
        raise Problem("invalid_webhook_signature", str(e)) from None
    receipt = WebhookReceipt(
        event_id=event.event_id, event_type=event.event_type, outcome="duplicate"
    )
    if not await run_in_threadpool(store_event, engine, event):
        return receipt
    try:
        if event.kind in SETTLEMENT_EVENTS:
            receipt.outcome = await _settle(event, engine, temporal, settings.task_queue)
        else:
            receipt.outcome = await _hand_on(event, engine, temporal, adapter, settings.task_queue)
    except TargetMismatch as mismatch:
        log.warning(
            "webhook refused: its ids do not match our records",
            extra={
                "provider": event.provider,
                "event_id": event.event_id,
                "event_type": event.event_type,
                "object_reference": event.object_reference,
                "claimed": list(mismatch.claimed),
                "recorded": list(mismatch.recorded),
            },
        )
        receipt.outcome = "target_mismatch"
    await run_in_threadpool(finish_event, engine, event, receipt.outcome)
    return receipt


async def _hand_on(
    event: ProviderEvent,
    engine: Engine,
    temporal: TemporalConnection,
    adapter: PaymentProvider,
    task_queue: str,
) -> WebhookOutcome:
    if event.kind == "ignored":
        return "ignored"
    if event.kind == "account_updated":
        found = await connected_accounts.account_updated(engine, adapter, event)
        return "unknown_object" if found is None else "recorded"
    disputed = event.kind in DISPUTE_EVENTS and event.dispute_reference is not None
    if event.kind not in PAYMENT_EVENTS and not disputed:
        # Refund and payout sagas take their provider's answer synchronously; their other
        # events are kept for operators and reconciliation.
        return "recorded"
    target = await run_in_threadpool(find_payment, engine, event)
    if target is None or not PAYMENT_ID.match(target[1]):
        return "unknown_object"
    tenant, payment_id = target
    client = await temporal.get()
    if disputed:
        await _to_dispute_saga(client, task_queue, tenant, payment_id, event)
        if event.kind not in PAYMENT_EVENTS:
            return "signaled"
    handle = client.get_workflow_handle(payment_workflow_id(tenant, payment_id))
    with temporal_call():
        try:
            await handle.signal(PaymentWorkflow.provider_event, event)
            return "signaled"
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
    # The saga has ended (or never ran here): what it must still know goes to its read model.
    if event.kind == "dispute_opened":
        found = await run_in_threadpool(record_dispute, engine, tenant, payment_id, event)
        return "recorded" if found else "unknown_object"
    return "recorded"


async def _to_dispute_saga(
    client: Client, task_queue: str, tenant: str, payment_id: str, event: ProviderEvent
) -> None:
    """Signal the dispute's saga, starting it on its first event (or again after it ended:
    the new run reads the dispute and finds everything booked)."""
    assert event.dispute_reference is not None
    dispute = DisputeInput(
        dispute_id=dispute_id(event.provider, event.dispute_reference),
        tenant_id=tenant,
        payment_id=payment_id,
        provider=event.provider,
        provider_reference=event.dispute_reference,
    )
    with temporal_call():
        await client.start_workflow(
            DisputeWorkflow.run,
            dispute,
            id=dispute_workflow_id(tenant, dispute.dispute_id),
            task_queue=task_queue,
            start_signal="provider_event",
            start_signal_args=[event],
            static_summary=f"dispute {dispute.provider_reference} on {payment_id}",
            # Filed like the other sagas in the Temporal UI (no PII: ids and money only).
            search_attributes=search_attributes.money_movement(
                tenant, event.currency, event.amount, event.provider
            ),
            priority=tenant_priority(tenant),
        )


async def _settle(
    event: ProviderEvent, engine: Engine, temporal: TemporalConnection, task_queue: str
) -> WebhookOutcome:
    """Start the refund's or payout's settlement saga, or have the running one look again:
    it asks the provider before it books anything."""
    subject = await run_in_threadpool(find_settlement_subject, engine, event)
    if subject is None:
        return "unknown_object"
    client = await temporal.get()
    with temporal_call():
        await client.start_workflow(
            SettlementWorkflow.run,
            subject,
            id=settlement_workflow_id(subject.tenant_id, subject.subject_id),
            task_queue=task_queue,
            start_signal="recheck",
            # Each event may start a new run once the last one ended: it re-reads and finds
            # nothing left to do when nothing changed.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            static_summary=f"{event.event_type} for {subject.subject} {subject.subject_id}",
            search_attributes=search_attributes.money_movement(
                subject.tenant_id, event.currency, event.amount, subject.provider
            ),
            priority=tenant_priority(subject.tenant_id),
        )
    return "signaled"
