"""Record the main scenarios' histories for the replay test.

Run after a deliberate, patched change to the workflow:
``python -m tests.support.record_histories [SCENARIO ...]`` (default: all). Record only the
new scenarios: the old files are what proves that running workflows still replay. Each
scenario runs on the real dev server with the real activities and gateway.
"""

import asyncio
import inspect
import shutil
import sqlite3
import sys
import tempfile
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy import select
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from schemas.billing import DunningPolicy
from schemas.email import REMINDER_LEAD
from schemas.identity import email_workflow_id
from schemas.identity import new_payout_id
from schemas.identity import new_plan_id
from schemas.identity import new_refund_id
from schemas.identity import new_subscription_id
from schemas.identity import payout_workflow_id
from schemas.identity import settlement_workflow_id
from schemas.identity import webhook_delivery_workflow_id
from schemas.installments import CreateInstallmentPlanRequest
from schemas.payments import CaptureRequest
from schemas.payments import PaymentStatus
from schemas.payouts import PayoutInput
from schemas.reconciliation import FindUnresolvedCommand
from schemas.refunds import RefundInput
from schemas.risk_review import ReviewDecision
from schemas.risk_rules import AmountCondition
from schemas.risk_rules import RiskRule
from schemas.risk_rules import RiskRuleSetDocument
from schemas.runtime.settings import Settings
from schemas.settlements import SettlementInput
from schemas.store.database import make_engine
from schemas.store.database import upgrade
from schemas.store.read_model import PAYMENTS
from schemas.store.risk_rules import save_rule_set
from schemas.store.tables import EventRecord
from schemas.store.tables import WebhookDeliveryRecord
from schemas.store.tables import WebhookEndpointRecord
from schemas.store.webhook_endpoints import new_signing_secret
from schemas.subscriptions import CancelSubscriptionRequest
from schemas.subscriptions import ChangePlan
from schemas.subscriptions import Plan
from schemas.subscriptions import SubscriptionInput
from tests.support import emails
from tests.support.gateway import start_gateway
from tests.support.payments import payment_input
from tests.support.payments import processing_state
from tests.support.payments import start_payment
from tests.support.payments import wait_for_status
from tests.support.sagas import add_connected_account
from tests.support.sagas import installment_plan_input
from tests.support.sagas import refund_with_update
from tests.support.sagas import start_installment_plan
from tests.support.sagas import start_subscription
from tests.support.smtp import SmtpCatcher
from tests.support.waits import until
from tests.support.webhook_receiver import webhook_receiver
from tests.support.worker import running_worker
from workers.stack.temporal import dev_server_flags
from workers.worker.event_relay import EventRelay
from workflows.email_delivery.workflow import EmailDeliveryWorkflow
from workflows.kit import search_attributes
from workflows.payment.workflow import PaymentWorkflow
from workflows.payout.workflow import PayoutWorkflow
from workflows.reconciliation.workflow import ReconciliationWorkflow
from workflows.settlement.workflow import SettlementWorkflow
from workflows.subscription.workflow import SubscriptionWorkflow
from workflows.webhook_delivery.workflow import WebhookDeliveryWorkflow

HISTORIES = Path(__file__).parent.parent / "histories"
# The review scenarios' tenant: its rule set sends payments of 100,000 or more to review.
REVIEW_TENANT = "ten_review"
REVIEW_RULES = RiskRuleSetDocument(
    rules=[
        RiskRule(
            id="large_payment",
            action="review",
            when=[AmountCondition(field="amount", op="gte", value=100_000)],
        )
    ]
)


async def automatic_capture(client, settings, gateway):
    return await start_payment(client, settings, payment_input())


async def automatic_capture_keyed_by_tenant(client, settings, gateway):
    """Recorded once its provider calls carried the tenant as their fairness key."""
    return await start_payment(client, settings, payment_input(tenant_id="ten_keyed"))


async def manual_partial_capture(client, settings, gateway):
    handle = await start_payment(client, settings, payment_input(capture_method="manual"))
    await wait_for_status(handle, PaymentStatus.REQUIRES_CAPTURE)
    await handle.execute_update(PaymentWorkflow.capture, CaptureRequest(amount=1000))
    return handle


async def capture_failure_voids(client, settings, gateway):
    return await start_payment(client, settings, payment_input(payment_method="tok_captureFails"))


async def three_d_secure_confirmed(client, settings, gateway):
    payment = payment_input(payment_method="tok_threeDSecureRequired")
    handle = await start_payment(client, settings, payment)
    pending = await wait_for_status(handle, PaymentStatus.REQUIRES_ACTION)
    await gateway.post(
        f"/v1/charges/{pending.provider_reference}/3ds/complete", json={"outcome": "succeed"}
    )
    await handle.signal(PaymentWorkflow.confirm)
    return handle


async def automatic_capture_filed_at_start(client, settings, gateway):
    """Started as the API starts it: the search attributes come with the start."""
    return await start_payment(client, settings, payment_input(), filed_at_start=True)


async def fast_path(client, settings, gateway):
    """Recorded once authorization was first tried as a local activity: answered at once."""
    return await start_payment(client, settings, payment_input(tenant_id="ten_fast"))


async def fast_path_fallback(client, settings, gateway):
    """The local attempt finds the provider unavailable; the regular activity authorizes."""
    await gateway.put("/v1/faults", json={"fail_next": 1, "operations": ["charge"]})
    try:
        handle = await start_payment(client, settings, payment_input(tenant_id="ten_fast"))
        await handle.result()
    finally:
        await gateway.delete("/v1/faults")
    return handle


async def _reviewed(client, settings, decision: ReviewDecision):
    payment = payment_input(tenant_id=REVIEW_TENANT, amount=150_000)
    handle = await start_payment(client, settings, payment, filed_at_start=True)
    await wait_for_status(handle, PaymentStatus.IN_REVIEW)
    await handle.execute_update(PaymentWorkflow.review, decision)
    return handle


async def review_approved(client, settings, gateway):
    approve = ReviewDecision(decision="approve", reviewer="alice", reason="known customer")
    return await _reviewed(client, settings, approve)


async def review_rejected(client, settings, gateway):
    reject = ReviewDecision(decision="reject", reviewer="bob", reason="card reported stolen")
    return await _reviewed(client, settings, reject)


async def _paid(client, settings, payment_method: str = "tok_visa"):
    handle = await start_payment(client, settings, payment_input(payment_method=payment_method))
    return await handle.result()


async def _refund(client, settings, payment, amount: int):
    refund = RefundInput(
        refund_id=new_refund_id(),
        tenant_id=payment.tenant_id,
        payment_id=payment.payment_id,
        amount=amount,
    )
    handle, _ = await refund_with_update(client, settings, refund)
    return handle


async def partial_refund(client, settings, gateway):
    return await _refund(client, settings, await _paid(client, settings), 500)


async def partial_refund_keyed_by_tenant(client, settings, gateway):
    """Recorded once refunds' provider calls carried the tenant as their fairness key."""
    return await _refund(client, settings, await _paid(client, settings), 500)


async def refund_refused_by_provider(client, settings, gateway):
    return await _refund(client, settings, await _paid(client, settings, "tok_refundFails"), 500)


async def _payout(client, settings, engine, bank_account: str):
    payment = await _paid(client, settings)
    account = add_connected_account(engine, payment.tenant_id, bank_account)
    payout = PayoutInput(
        payout_id=new_payout_id(),
        tenant_id=payment.tenant_id,
        account_id=account,
        amount=1_000,
        currency="USD",
    )
    return await client.start_workflow(
        PayoutWorkflow.run,
        payout,
        id=payout_workflow_id(payout.tenant_id, payout.payout_id),
        task_queue=settings.task_queue,
    )


async def payout_paid(client, settings, gateway, engine):
    return await _payout(client, settings, engine, "ba_ok")


async def payout_paid_keyed_by_tenant(client, settings, gateway, engine):
    """Recorded once payouts' provider calls carried the tenant as their fairness key."""
    return await _payout(client, settings, engine, "ba_ok")


async def payout_refused_unwinds(client, settings, gateway, engine):
    return await _payout(client, settings, engine, "ba_payoutFails")


async def _settle(client, settings, subject: SettlementInput):
    return await client.start_workflow(
        SettlementWorkflow.run,
        subject,
        id=settlement_workflow_id(subject.tenant_id, subject.subject_id),
        task_queue=settings.task_queue,
        start_signal="recheck",
    )


async def refund_failed_late(client, settings, gateway):
    """A refund that succeeded, then failed at the gateway: its settlement reverses it."""
    refund = await (await _refund(client, settings, await _paid(client, settings), 500)).result()
    failed = await gateway.post(f"/v1/test_helpers/refunds/{refund.provider_reference}/fail")
    failed.raise_for_status()
    subject = SettlementInput(
        tenant_id=refund.tenant_id,
        subject="refund",
        subject_id=refund.refund_id,
        provider=refund.provider,
    )
    return await _settle(client, settings, subject)


async def payout_returned_by_the_bank(client, settings, gateway, engine):
    """A paid payout the bank returned: its settlement reverses it and the transfer."""
    payout = await (await _payout(client, settings, engine, "ba_ok")).result()
    failed = await gateway.post(f"/v1/test_helpers/payouts/{payout.payout_reference}/fail")
    failed.raise_for_status()
    subject = SettlementInput(
        tenant_id=payout.tenant_id,
        subject="payout",
        subject_id=payout.payout_id,
        provider=payout.provider,
    )
    return await _settle(client, settings, subject)


def _plan(amount: int) -> Plan:
    return Plan(
        plan_id=new_plan_id(),
        name=f"Monthly {amount}",
        amount=amount,
        currency="USD",
        interval="month",
        created_at=datetime.now(UTC),
    )


async def _subscription(client, settings, *changes):
    """A monthly subscription charged for its first period, then ``changes`` (updates),
    then canceled."""
    now = datetime.now(UTC)
    sub = SubscriptionInput(
        subscription_id=new_subscription_id(),
        tenant_id="ten_record",
        customer_id=f"cus_{uuid.uuid4().hex[:10]}",
        plan=_plan(1_000),
        payment_method="tok_visa",
        start_at=now,
        created_at=now,
        dunning=DunningPolicy(),
    )
    handle = await start_subscription(client, settings, sub)
    while True:
        state = await handle.query(SubscriptionWorkflow.state)
        if state is not None and state.periods and state.periods[0].status == "paid":
            break
        await asyncio.sleep(0.1)
    for update, argument in changes:
        await handle.execute_update(update, argument)
    await handle.execute_update(SubscriptionWorkflow.cancel, CancelSubscriptionRequest())
    return handle


async def subscription_charged_then_canceled(client, settings, gateway):
    return await _subscription(client, settings)


async def subscription_plan_changed_then_canceled(client, settings, gateway):
    return await _subscription(
        client, settings, (SubscriptionWorkflow.change_plan, ChangePlan(plan=_plan(3_000)))
    )


async def _installments(client, settings, due_dates):
    request = CreateInstallmentPlanRequest(
        amount=9_000,
        currency="USD",
        customer_id=f"cus_{uuid.uuid4().hex[:10]}",
        payment_method="tok_visa",
        due_dates=due_dates,
    )
    plan = installment_plan_input(request, "ten_record", due_dates[0], [1, 3, 7])
    return await start_installment_plan(client, settings, plan)


async def installment_paid_in_full(client, settings, gateway):
    return await _installments(client, settings, [datetime.now(UTC)])


async def installment_paid_in_order(client, settings, gateway):
    now = datetime.now(UTC)
    return await _installments(client, settings, [now, now + timedelta(seconds=2)])


# File name prefix: the workflow type the replay test replays it with.
async def provider_disagrees(client, settings, gateway, gateway_db: Path):
    """A charge applied but never answered (``requires_attention``), which the gateway then
    reports captured for 100 times its amount: reconciliation books nothing and flags it."""
    # The first attempt is applied and outlasts the provider timeout, every retry is too slow.
    faults = {"timeout_next": 1, "hang_ms": 12_000, "latency_ms": 11_000, "operations": ["charge"]}
    await gateway.put("/v1/faults", json=faults)
    try:
        payment = payment_input(provider_deadline=timedelta(seconds=4))
        lost = await (await start_payment(client, settings, payment)).result()
    finally:
        await gateway.delete("/v1/faults")
    assert lost.status == PaymentStatus.REQUIRES_ATTENTION, lost.status
    # The gateway applies the charge after its client gave up: wait until it has.
    for _ in range(100):
        stats = (await gateway.get("/v1/stats")).json()
        if stats["charges_by_reference"].get(payment.payment_id):
            break
        await asyncio.sleep(0.2)
    with sqlite3.connect(gateway_db) as db:
        db.execute(
            "UPDATE charges SET amount = amount * 100, amount_captured = amount_captured * 100"
            " WHERE reference = ?",
            (payment.payment_id,),
        )
    return await client.start_workflow(
        ReconciliationWorkflow.run,
        FindUnresolvedCommand(),
        id=f"reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def _email(client, settings, engine, email):
    return await client.start_workflow(
        EmailDeliveryWorkflow.run,
        email,
        id=email_workflow_id(email.tenant_id, email.email_id),
        task_queue=settings.task_queue,
    )


async def receipt_sent(client, settings, gateway, engine):
    emails.configure(engine)
    payment = emails.succeeded_payment(engine, emails.customer(engine), 4200)
    event = emails.event_of(engine, payment.payment_id, "payment.succeeded")
    return await _email(client, settings, engine, emails.email_of(event, "payment_receipt"))


async def dunning_reminder_before_retry(client, settings, gateway, engine):
    """The next retry a day and a few seconds away: the reminder's timer is seconds long."""
    emails.configure(engine)
    retry_in = REMINDER_LEAD + timedelta(seconds=3)
    subscription = emails.past_due_subscription(engine, emails.customer(engine), retry_in)
    event = emails.event_of(engine, subscription.subscription_id, "subscription.payment_failed")
    return await _email(client, settings, engine, emails.email_of(event, "dunning_reminder"))


async def _delivery(client, settings, engine, receiver, name: str, **receiving):
    secret = new_signing_secret()
    receiver.configure(name, secrets=[secret], **receiving)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            WebhookEndpointRecord.__table__.insert(),
            {
                "endpoint_id": f"we_{uuid.uuid4().hex[:24]}",
                "tenant_id": f"ten_{name}",
                "url": receiver.url(name),
                "enabled_events_json": '["*"]',
                "status": "enabled",
                "secret": secret,
                "created_at": now,
                "updated_at": now,
            },
        )
        payment = processing_state(tenant_id=f"ten_{name}", status=PaymentStatus.SUCCEEDED)
        PAYMENTS.upsert(connection, payment)
    await EventRelay(client, engine, settings.task_queue).relay_once()
    with engine.connect() as connection:
        delivery = connection.execute(
            select(WebhookDeliveryRecord)
            .join(EventRecord, EventRecord.event_id == WebhookDeliveryRecord.event_id)
            .where(EventRecord.object_id == payment.payment_id)
        ).one()
    return client.get_workflow_handle_for(
        WebhookDeliveryWorkflow.run,
        webhook_delivery_workflow_id(delivery.tenant_id, delivery.delivery_id),
    )


async def delivered_at_once(client, settings, gateway, engine, receiver):
    return await _delivery(client, settings, engine, receiver, uuid.uuid4().hex[:8])


async def delivered_when_retried_now(client, settings, gateway, engine, receiver):
    """Answered 500 once; ``retry_now`` sends it again before its timer fires."""
    name = uuid.uuid4().hex[:8]
    handle = await _delivery(client, settings, engine, receiver, name, mode="fail")
    await until(lambda: receiver.deliveries(name), bool)
    receiver.configure(name, mode="ok")
    await handle.signal(WebhookDeliveryWorkflow.retry_now)
    return handle


SCENARIOS = {
    automatic_capture: "payment",
    automatic_capture_filed_at_start: "payment",
    automatic_capture_keyed_by_tenant: "payment",
    manual_partial_capture: "payment",
    capture_failure_voids: "payment",
    three_d_secure_confirmed: "payment",
    fast_path: "payment",
    fast_path_fallback: "payment",
    review_approved: "payment",
    review_rejected: "payment",
    partial_refund: "refund",
    partial_refund_keyed_by_tenant: "refund",
    refund_refused_by_provider: "refund",
    payout_paid: "payout",
    payout_paid_keyed_by_tenant: "payout",
    payout_refused_unwinds: "payout",
    subscription_charged_then_canceled: "subscription",
    subscription_plan_changed_then_canceled: "subscription",
    installment_paid_in_full: "installment",
    installment_paid_in_order: "installment",
    refund_failed_late: "settlement",
    payout_returned_by_the_bank: "settlement",
    provider_disagrees: "reconciliation",
    receipt_sent: "email",
    dunning_reminder_before_retry: "email",
    delivered_at_once: "webhook",
    delivered_when_retried_now: "webhook",
}


async def record(names: list[str]) -> None:
    unknown = set(names) - {scenario.__name__ for scenario in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp())
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=shutil.which("temporal")
        or str(Path(sys.executable).parent / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=search_attributes.ALL,
        dev_server_extra_args=dev_server_flags(),
    )
    engine = make_engine(f"sqlite:///{workdir / 'paysaga.db'}")
    upgrade(engine)
    with engine.begin() as connection:
        save_rule_set(connection, REVIEW_TENANT, REVIEW_RULES)
    with (
        start_gateway(workdir / "gateway.db") as gateway_url,
        SmtpCatcher(workdir / "mail") as _,
        webhook_receiver(workdir / "receiver") as receiver,
    ):
        settings = Settings(
            database_url=str(engine.url),
            sandbox_gateway_url=gateway_url,
            task_queue=f"record-{uuid.uuid4().hex[:8]}",
            smtp_host="127.0.0.1",
            smtp_port=int(_.rsplit(":", 1)[1]),
            smtp_starttls=False,
            webhook_allow_private_urls=True,
        )
        async with (
            running_worker(env.client, settings, engine),
            httpx.AsyncClient(base_url=gateway_url) as gateway,
        ):
            for scenario, kind in SCENARIOS.items():
                if names and scenario.__name__ not in names:
                    continue
                wants = inspect.signature(scenario).parameters
                extra = (engine,) if "engine" in wants else ()
                extra += (workdir / "gateway.db",) if "gateway_db" in wants else ()
                extra += (receiver,) if "receiver" in wants else ()
                handle = await scenario(env.client, settings, gateway, *extra)
                await handle.result()
                history = await handle.fetch_history()
                target = HISTORIES / f"{kind}_{scenario.__name__}.json"
                target.write_text(history.to_json())
                print(f"recorded {target}")
    await env.shutdown()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1:]))
