"""Reconciliation on the real dev server, against a gateway of its own with injected faults.

The gateway applies the charge and then never answers in time: the saga cannot know the
outcome and ends ``requires_attention``; reconciliation asks the gateway and books it.
"""

import sqlite3
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import httpx
import pytest
from sqlmodel import Session
from sqlmodel import select

from activities.ledger import Ledger
from schemas.domain import journals
from schemas.identity import new_payout_id
from schemas.identity import new_refund_id
from schemas.identity import payment_workflow_id
from schemas.identity import payout_workflow_id
from schemas.identity import refund_workflow_id
from schemas.ledger import MERCHANT_BALANCE
from schemas.payments import PaymentStatus
from schemas.payouts import PayoutInput
from schemas.payouts import PayoutStatus
from schemas.reconciliation import FindUnresolvedCommand
from schemas.reconciliation import ReportCommand
from schemas.refunds import RefundInput
from schemas.refunds import RefundStatus
from schemas.store.ledger_reports import balance
from schemas.store.tables import JournalEntry
from schemas.store.tables import PaymentRecord
from schemas.store.tables import PayoutRecord
from schemas.store.tables import RefundRecord
from tests.support.gateway import start_gateway
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.sagas import add_connected_account
from tests.support.worker import running_worker
from workflows.payment.workflow import PaymentWorkflow
from workflows.payout.workflow import PayoutWorkflow
from workflows.reconciliation.report import ReconciliationReportWorkflow
from workflows.reconciliation.workflow import ReconciliationWorkflow
from workflows.refund.workflow import RefundWorkflow

DEADLINE = timedelta(seconds=4)
# Every attempt outlasts the provider timeout (1 s): the first is applied after its client
# gave up (and hangs once more after applying), the retries never get an answer in time.
NEVER_ANSWERED = {"timeout_next": 1, "hang_ms": 3_000, "latency_ms": 1_500}


@pytest.fixture
def own_gateway(tmp_path):
    with start_gateway(tmp_path / "gateway.db") as url:
        yield url


@pytest.fixture
async def client(local_env, settings, engine, own_gateway):
    settings = settings.model_copy(
        update={"sandbox_gateway_url": own_gateway, "provider_timeout": timedelta(seconds=1)}
    )
    async with running_worker(local_env.client, settings, engine):
        yield local_env.client, settings


async def reconcile(client, settings):
    return await client.execute_workflow(
        ReconciliationWorkflow.run,
        FindUnresolvedCommand(),
        id=f"reconciliation-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def report(client, settings, tenant_id: str):
    return await client.execute_workflow(
        ReconciliationReportWorkflow.run,
        ReportCommand(tenant_id=tenant_id, date=datetime.now(UTC).date()),
        id=f"report-{uuid.uuid4().hex[:8]}",
        task_queue=settings.task_queue,
    )


async def run_unanswered(client, settings, operation: str, run, saga_input, workflow_id: str):
    """The saga's end when its gateway applies ``operation`` but never answers it in time."""
    async with httpx.AsyncClient(base_url=settings.sandbox_gateway_url) as gateway:
        await gateway.put("/v1/faults", json={**NEVER_ANSWERED, "operations": [operation]})
        try:
            return await client.execute_workflow(
                run, saga_input, id=workflow_id, task_queue=settings.task_queue
            )
        finally:
            await gateway.delete("/v1/faults")


def entries(engine, source_id: str) -> list[str]:
    with Session(engine) as session:
        return sorted(
            session.exec(select(JournalEntry.kind).where(JournalEntry.source_id == source_id))
        )


async def test_a_charge_applied_after_a_timeout_is_captured_by_reconciliation(
    client, engine, own_gateway
):
    client, settings = client
    tenant = f"ten_{uuid.uuid4().hex[:8]}"
    payment = payment_input(tenant_id=tenant, provider_deadline=DEADLINE)
    workflow_id = payment_workflow_id(tenant, payment.payment_id)
    lost = await run_unanswered(
        client, settings, "charge", PaymentWorkflow.run, payment, workflow_id
    )
    async with httpx.AsyncClient(base_url=own_gateway) as gateway:
        assert lost.status == PaymentStatus.REQUIRES_ATTENTION
        assert entries(engine, payment.payment_id) == []
        stats = (await gateway.get("/v1/stats")).json()
        assert stats["charges_by_reference"][payment.payment_id] == 1

        summary = await reconcile(client, settings)

        assert payment.payment_id in summary.payments_captured
        with Session(engine) as session:
            row = session.get(PaymentRecord, payment.payment_id)
        assert (row.status, row.captured_amount) == ("succeeded", payment.amount)
        assert entries(engine, payment.payment_id) == ["capture", "fee"]
        stats = (await gateway.get("/v1/stats")).json()
        assert stats["charges_by_reference"][payment.payment_id] == 1  # exactly one charge
        again = await reconcile(client, settings)
        assert payment.payment_id not in again.payments_captured
        assert entries(engine, payment.payment_id) == ["capture", "fee"]

    daily = await report(client, settings, tenant)
    assert daily.mismatches == []
    [usd] = daily.totals
    assert usd.ledger_captured == usd.provider_captured == payment.amount
    assert usd.ledger_fees == usd.provider_fees > 0


@pytest.mark.parametrize(
    ("tampered", "problem"),
    [
        # Captured 100 times the payment (a currency's minor units taken for whole units).
        (
            "UPDATE charges SET amount = amount * 100, amount_captured = amount_captured * 100"
            " WHERE reference = ?",
            "amount_differs",
        ),
        ("UPDATE charges SET currency = 'EUR' WHERE reference = ?", "currency_differs"),
    ],
)
async def test_a_provider_capture_that_is_not_the_payments_is_flagged_and_never_booked(
    client, engine, tmp_path, tampered, problem
):
    client, settings = client
    tenant = f"ten_{uuid.uuid4().hex[:8]}"
    payment = payment_input(tenant_id=tenant, provider_deadline=DEADLINE)
    workflow_id = payment_workflow_id(tenant, payment.payment_id)
    lost = await run_unanswered(
        client, settings, "charge", PaymentWorkflow.run, payment, workflow_id
    )
    assert lost.status == PaymentStatus.REQUIRES_ATTENTION
    # The provider's books say something else than the payment.
    with sqlite3.connect(tmp_path / "gateway.db") as gateway_db:
        gateway_db.execute(tampered, (payment.payment_id,))

    summary = await reconcile(client, settings)

    assert payment.payment_id in summary.payments_disagreeing
    assert payment.payment_id not in summary.payments_captured
    assert entries(engine, payment.payment_id) == []
    with Session(engine) as session:
        row = session.get(PaymentRecord, payment.payment_id)
    assert (row.status, row.failure_code, row.captured_amount) == (
        "requires_attention",
        "reconciled_provider_disagrees",
        0,
    )
    # Left for an operator: the next run does not ask again.
    again = await reconcile(client, settings)
    assert payment.payment_id not in again.payments_disagreeing + again.payments_captured
    assert entries(engine, payment.payment_id) == []

    daily = await report(client, settings, tenant)
    [flagged] = [m for m in daily.mismatches if m.kind == "capture"]
    assert (flagged.id, flagged.problem, flagged.ledger_amount) == (
        payment.payment_id,
        f"provider_{problem}",
        None,
    )
    assert flagged.payment_amount == payment.amount
    if problem == "amount_differs":
        assert (flagged.currency, flagged.provider_amount) == ("USD", payment.amount * 100)
        assert flagged.provider_currency is None
    else:
        assert (flagged.provider_currency, flagged.provider_amount) == ("EUR", payment.amount)


async def test_a_refund_with_an_unknown_outcome_is_settled_by_reconciliation(
    client, engine, own_gateway
):
    client, settings = client
    tenant = f"ten_{uuid.uuid4().hex[:8]}"
    paid = await (await start_payment(client, settings, payment_input(tenant_id=tenant))).result()
    assert paid.status == PaymentStatus.SUCCEEDED
    refund = RefundInput(
        refund_id=new_refund_id(),
        tenant_id=tenant,
        payment_id=paid.payment_id,
        amount=500,
        provider_deadline=DEADLINE,
    )
    workflow_id = refund_workflow_id(tenant, refund.refund_id)
    lost = await run_unanswered(client, settings, "refund", RefundWorkflow.run, refund, workflow_id)

    assert lost.status == RefundStatus.REQUIRES_ATTENTION
    summary = await reconcile(client, settings)

    assert refund.refund_id in summary.refunds_succeeded
    with Session(engine) as session:
        stored = session.get(RefundRecord, refund.refund_id)
        payment = session.get(PaymentRecord, paid.payment_id)
    assert stored.status == "succeeded"
    assert (payment.status, payment.refunded_amount) == ("partially_refunded", 500)
    assert entries(engine, refund.refund_id) == ["refund", "refund_reserve"]
    assert (await report(client, settings, tenant)).mismatches == []


async def test_a_ledger_that_disagrees_with_the_provider_shows_in_the_report(client, engine):
    client, settings = client
    tenant = f"ten_{uuid.uuid4().hex[:8]}"
    paid = await (await start_payment(client, settings, payment_input(tenant_id=tenant))).result()
    # A booking the provider never saw: the same capture booked again under another key.
    extra = journals.capture(paid.payment_id, "sandbox", "USD", 100, 0)[0]
    extra.idempotency_key += ":forced"
    with Ledger(engine).transaction() as transaction:
        transaction.post(tenant, [extra], payment_id=paid.payment_id)

    daily = await report(client, settings, tenant)

    [mismatch] = daily.mismatches
    assert (mismatch.kind, mismatch.id, mismatch.problem) == (
        "capture",
        paid.payment_id,
        "amount_differs",
    )
    assert (mismatch.ledger_amount, mismatch.provider_amount) == (paid.amount + 100, paid.amount)


async def test_a_payout_with_an_unknown_outcome_is_settled_by_reconciliation(
    client, engine, own_gateway
):
    client, settings = client
    tenant = f"ten_{uuid.uuid4().hex[:8]}"
    paid = await (
        await start_payment(client, settings, payment_input(tenant_id=tenant, amount=5_000))
    ).result()
    account = add_connected_account(engine, tenant)
    payout = PayoutInput(
        payout_id=new_payout_id(),
        tenant_id=tenant,
        account_id=account,
        amount=2_000,
        currency="USD",
        provider_deadline=DEADLINE,
    )
    workflow_id = payout_workflow_id(tenant, payout.payout_id)
    lost = await run_unanswered(client, settings, "payout", PayoutWorkflow.run, payout, workflow_id)
    assert lost.status == PayoutStatus.REQUIRES_ATTENTION
    async with httpx.AsyncClient(base_url=own_gateway) as gateway:
        summary = await reconcile(client, settings)

        assert payout.payout_id in summary.payouts_paid
        paid_out = await gateway.get("/v1/payouts", params={"reference": payout.payout_id})
        assert [p["status"] for p in paid_out.json()["data"]] == ["paid"]  # exactly one
    with Session(engine) as session:
        assert session.get(PayoutRecord, payout.payout_id).status == "succeeded"
    assert entries(engine, payout.payout_id) == ["payout", "payout_reserve", "transfer"]
    with Session(engine) as session:
        assert balance(session, tenant, MERCHANT_BALANCE, "USD") == -(
            paid.captured_amount - paid.fee - 2_000
        )
