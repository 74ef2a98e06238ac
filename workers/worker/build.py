"""The worker process: payment workflows plus provider, fraud and ledger activities."""

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import uvloop
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner
from temporalio.worker import Worker
from temporalio.worker import WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from activities.billing import BillingActivities
from activities.circuit_breaker import CircuitBreaker
from activities.disputes import DisputeActivities
from activities.email.sending import EmailActivities
from activities.email.smtp import SmtpServer
from activities.installments import InstallmentActivities
from activities.ledger import LedgerActivities
from activities.payouts import PayoutActivities
from activities.provider_calls import ProviderActivities
from activities.providers.base import PaymentProvider
from activities.providers.registry import build_providers
from activities.reconciliation import ReconciliationActivities
from activities.refunds import RefundActivities
from activities.risk.model import load_configured
from activities.risk.screening import FraudActivities
from activities.saved_methods import SavedMethodActivities
from activities.settlements import SettlementActivities
from activities.subscriptions import SubscriptionActivities
from activities.webhooks.delivery import WebhookDeliveryActivities
from activities.webhooks.sender import WebhookSender
from schemas.runtime.logs import configure_logging
from schemas.runtime.settings import Settings
from schemas.runtime.temporal_client import connect
from schemas.runtime.tracing import CurrentSpanTracer
from schemas.runtime.tracing import configure_tracing
from schemas.runtime.tracing import spans_exported
from schemas.store.database import make_engine
from schemas.store.database import require_current_schema
from workers.worker.event_relay import EventRelay
from workers.worker.schedules import ensure_schedules
from workers.worker.telemetry import worker_runtime
from workflows import WORKFLOWS

log = logging.getLogger("paysaga.worker")

# Threads for the synchronous (SQL) activities; the bench's baseline worker uses the same.
ACTIVITY_THREADS = 16


def workflow_runner(sandboxed: bool) -> WorkflowRunner:
    return SandboxedWorkflowRunner() if sandboxed else UnsandboxedWorkflowRunner()


def worker_activities(
    settings: Settings,
    engine: Engine,
    providers: dict[str, PaymentProvider],
    webhook_sender: WebhookSender,
) -> list[Callable]:
    """Every activity the sagas call, each registered under its method's name (the stubs
    in ``workflows/*/activities.py`` declare the same names and types)."""
    # The risk model is loaded once per process and directory, however many workers.
    fraud = FraudActivities(engine, settings.fraud, load_configured(settings))
    ledger = LedgerActivities(engine)
    breaker = CircuitBreaker.from_settings(engine, settings)
    provider_calls = ProviderActivities(providers, breaker)
    refunds = RefundActivities(engine)
    payouts = PayoutActivities(engine)
    reconciliation = ReconciliationActivities(engine, providers)
    billing = BillingActivities(engine)
    installments = InstallmentActivities(engine)
    subscriptions = SubscriptionActivities(engine)
    settlements = SettlementActivities(engine)
    disputes = DisputeActivities(engine, providers)
    saved_methods = SavedMethodActivities(engine)
    webhooks = WebhookDeliveryActivities(
        engine, webhook_sender, settings.webhook_allow_private_urls
    )
    emails = EmailActivities(engine, SmtpServer.from_settings(settings))
    return [
        fraud.screen_payment,
        ledger.record_payment,
        provider_calls.authorize_payment,
        provider_calls.confirm_payment_action,
        provider_calls.capture_payment,
        provider_calls.void_authorization,
        provider_calls.refund_payment,
        provider_calls.create_refund,
        refunds.reserve_refund,
        refunds.record_refund,
        payouts.reserve_payout,
        payouts.record_payout,
        payouts.release_payout_reservation,
        provider_calls.transfer_to_connected_account,
        provider_calls.pay_out_to_bank,
        provider_calls.reverse_transfer,
        reconciliation.find_unresolved,
        reconciliation.lookup_charge,
        reconciliation.lookup_refund,
        reconciliation.lookup_payout,
        reconciliation.build_reconciliation_report,
        billing.lookup_payment_outcome,
        installments.admit_installment_plan,
        installments.record_installment_plan,
        subscriptions.record_subscription,
        settlements.recorded_refund,
        settlements.recorded_payout,
        disputes.sync_dispute,
        disputes.submit_dispute_evidence,
        disputes.accept_dispute,
        provider_calls.set_up_payment_method,
        provider_calls.check_payment_method_setup,
        provider_calls.cancel_payment_method_setup,
        provider_calls.make_default_payment_method,
        saved_methods.record_saved_method,
        webhooks.attempt_webhook_delivery,
        emails.send_email,
        emails.next_dunning_retry,
        emails.end_email,
    ]


def build_worker(
    client: Client,
    settings: Settings,
    engine: Engine,
    providers: dict[str, PaymentProvider],
    executor: ThreadPoolExecutor,
    webhook_sender: WebhookSender,
    sandboxed: bool | None = None,
) -> Worker:
    """The payments worker; ``sandboxed`` overrides ``settings.workflow_sandbox``. The
    caller owns ``webhook_sender`` (and closes it after the worker)."""
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=WORKFLOWS,
        activities=worker_activities(settings, engine, providers, webhook_sender),
        # Fraud and ledger activities are synchronous SQL: they run on this pool.
        activity_executor=executor,
        max_concurrent_activities=settings.worker_activity_slots,
        workflow_runner=workflow_runner(
            settings.workflow_sandbox if sandboxed is None else sandboxed
        ),
    )


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    engine = make_engine(settings.database_url)
    # Migrations are run before the worker starts (`paysaga db upgrade`), never by it.
    try:
        require_current_schema(engine)
    except Exception:
        engine.dispose()
        raise
    providers = build_providers(settings)
    # With no span exported, workflows and activities run in the request's trace (every log
    # line keeps its trace id) without spans of their own that nobody would see.
    tracer = None if spans_exported() else CurrentSpanTracer()
    client = await connect(settings, runtime=worker_runtime(settings), tracer=tracer)
    stop = stop or asyncio.Event()
    webhook_sender = WebhookSender()
    with ThreadPoolExecutor(max_workers=ACTIVITY_THREADS) as executor:
        worker = build_worker(client, settings, engine, providers, executor, webhook_sender)
        await ensure_schedules(client, settings)
        relay = EventRelay(client, engine, settings.task_queue)
        async with worker:
            log.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
            await relay.run(stop, settings.event_relay_interval.total_seconds())
    for provider in providers.values():
        await provider.aclose()
    await webhook_sender.aclose()
    engine.dispose()


def main() -> None:
    settings = Settings()
    configure_logging(settings, "worker")
    configure_tracing("paysaga-worker")
    # Each provider call is logged once, by its adapter; httpx's own line per request repeats it.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    # uvloop (installed with uvicorn[standard], which the API serves with) runs the pollers,
    # activity tasks and HTTP client; workflows keep the SDK's own deterministic loop.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve())


if __name__ == "__main__":
    main()
