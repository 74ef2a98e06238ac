"""No-op sagas with the shape of a card payment with automatic capture.

``BaselinePaymentWorkflow``: local activity (screen) → regular activity
(authorize-and-capture) → local activity (record), with the timeouts and retry policies of
the real saga, the same input and result models. What it costs is what Temporal and the SDK
cost for that shape on this machine: what paysaga's targets are ratios of.

``AllLocalBaselineWorkflow``: the same three steps, all local activities (one workflow task
when nothing fails): the honest ceiling for a saga whose provider call runs locally. paysaga
is reported against it, with no target.

Kept free of third-party imports at module level (DESIGN §5: sandbox re-import cost).
"""

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from schemas.fraud import ScreeningDecision
    from schemas.payments import PaymentInput
    from schemas.provider import ChargeResult
    from workflows.kit import policies

BASELINE_TASK_QUEUE = "paysaga-bench-baseline"


# Fraud and ledger activities are synchronous in the worker (they run on its thread pool),
# so the no-op versions are too; the provider call is async like the HTTP client's.
@activity.defn(name="bench_noop_screen")
def noop_screen(payment: PaymentInput) -> ScreeningDecision:
    return ScreeningDecision(action="allow")


@activity.defn(name="bench_noop_authorize")
async def noop_authorize(payment: PaymentInput) -> ChargeResult:
    return ChargeResult(
        reference=f"ch_{payment.payment_id}",
        status="captured",
        amount=payment.amount,
        authorized_amount=payment.amount,
        captured_amount=payment.amount,
    )


@activity.defn(name="bench_noop_record")
def noop_record(payment: PaymentInput) -> None:
    return None


@workflow.defn
class BaselinePaymentWorkflow:
    @workflow.run
    async def run(self, payment: PaymentInput) -> ChargeResult:
        await workflow.execute_local_activity(
            noop_screen, payment, result_type=ScreeningDecision, **policies.LOCAL_CALL
        )
        charge = await workflow.execute_activity(
            noop_authorize, payment, result_type=ChargeResult, **policies.PROVIDER_CALL
        )
        await workflow.execute_local_activity(noop_record, payment, **policies.LOCAL_CALL)
        return charge


@workflow.defn
class AllLocalBaselineWorkflow:
    @workflow.run
    async def run(self, payment: PaymentInput) -> ChargeResult:
        await workflow.execute_local_activity(
            noop_screen, payment, result_type=ScreeningDecision, **policies.LOCAL_CALL
        )
        charge = await workflow.execute_local_activity(
            noop_authorize, payment, result_type=ChargeResult, **policies.LOCAL_CALL
        )
        await workflow.execute_local_activity(noop_record, payment, **policies.LOCAL_CALL)
        return charge


BaselineWorkflow = type[BaselinePaymentWorkflow] | type[AllLocalBaselineWorkflow]
