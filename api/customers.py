"""Customers and their saved payment methods, mirrored at the provider holding each method.

The customer is created here alone; its mirror at a provider is made when a first method is
saved there (Stripe: a Customer, key ``{customer}:{provider}:customer``) and its id kept in
``provider_customers``. At a provider with a setup flow (Stripe's SetupIntent) the method
is saved by ``SavePaymentMethodWorkflow`` (keys ``{saved method}:setup…``), which may wait
for the customer's 3-D Secure; elsewhere the token is attached at once (key
``{saved method}:attach``). The saved method's id is bound to the request's
Idempotency-Key, so a retried request re-asks with the same keys and the provider acts
once; no method is written before the provider answered.
"""

import asyncio
from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlmodel import Session
from temporalio.client import Client
from temporalio.client import WithStartWorkflowOperation
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.providers.base import PaymentProvider
from activities.providers.base import SavesPaymentMethods
from activities.providers.base import SetsUpPaymentMethods
from api.dependencies import TemporalConnection
from api.dependencies import run_transaction
from api.payments import require_enabled_provider
from api.problems import Problem
from api.provider_answers import provider_answer
from api.sagas import temporal_call
from api.sagas import tenant_priority
from schemas.customers import AttachMethodCommand
from schemas.customers import AttachPaymentMethodRequest
from schemas.customers import Customer
from schemas.customers import OffSessionMethod
from schemas.customers import SaveCustomerCommand
from schemas.customers import SavedPaymentMethod
from schemas.customers import SaveMethodInput
from schemas.customers import UpdateCustomerRequest
from schemas.identity import CUSTOMER_ID
from schemas.identity import SAVED_METHOD_ID
from schemas.identity import saved_method_workflow_id
from schemas.payments import ProviderName
from schemas.provider import CustomerAction
from schemas.runtime.settings import Settings
from schemas.store import customers as store
from schemas.store.quotas import enforce_quota
from schemas.tenants import TenantQuotas
from workflows.saved_method.workflow import SavePaymentMethodWorkflow

# What a provider's refusal to keep a customer or a method is to the client.
METHOD_REFUSED = "payment_method_refused"
# What naming a customer's saved method in a payment, subscription or plan can answer.
SAVED_METHOD_PROBLEMS = (
    "customer_not_found",
    "saved_payment_method_not_found",
    "invalid_payment_method",
    "provider_disabled",
)


async def find_customer(session: Session, tenant: str, customer_id: str) -> Customer:
    """404 unless it is one of the tenant's."""
    found = None
    if CUSTOMER_ID.match(customer_id):
        found = await run_transaction(session, store.get_customer, tenant, customer_id)
    if found is None:
        raise Problem("customer_not_found")
    return found


async def find_method(
    session: Session, customer: Customer, method_id: str, *statuses: str
) -> SavedPaymentMethod:
    """404 unless it is one of this customer's methods, active (or in ``statuses``)."""
    found = None
    if SAVED_METHOD_ID.match(method_id):
        found = await run_transaction(
            session, store.get_method, customer.tenant_id, customer.customer_id, method_id
        )
    if found is None or found.status not in (statuses or ("active",)):
        raise Problem("saved_payment_method_not_found")
    return found


async def saved_method(
    session: Session, tenant: str, customer_id: str, method_id: str | None
) -> OffSessionMethod:
    """What charging the customer's saved method (its default when none is named) needs."""
    customer = await find_customer(session, tenant, customer_id)
    method_id = method_id or customer.default_payment_method
    if method_id is None:
        raise Problem("saved_payment_method_not_found", "the customer has no default method")
    method = await find_method(session, customer, method_id)
    return OffSessionMethod(
        payment_method_id=method.payment_method_id,
        provider=method.provider,
        customer_reference=customer.provider_customers[method.provider],
        method_reference=method.provider_reference,
    )


async def named_method(
    session: Session, tenant: str, customer_id: str | None, payment_method: str
) -> OffSessionMethod | None:
    """The saved method a request names (``customer`` + ``spm_…``), or None for a token."""
    if customer_id is None:
        if SAVED_METHOD_ID.match(payment_method):
            raise Problem("invalid_payment_method", "a saved method (spm_…) needs its customer")
        return None
    if not SAVED_METHOD_ID.match(payment_method):
        raise Problem(
            "invalid_payment_method", "with a customer, name one of its saved methods (spm_…)"
        )
    return await saved_method(session, tenant, customer_id, payment_method)


def saving_adapter(
    providers: dict[str, PaymentProvider], settings: Settings, provider: str
) -> SavesPaymentMethods:
    require_enabled_provider(settings, provider)
    adapter = providers.get(provider)
    if not isinstance(adapter, SavesPaymentMethods):
        raise Problem("provider_cannot_save_methods", f"{provider} keeps no saved methods here")
    return adapter


async def save_method(
    session: Session,
    temporal: TemporalConnection,
    settings: Settings,
    customer: Customer,
    body: AttachPaymentMethodRequest,
    adapter: SavesPaymentMethods,
    provider: ProviderName,
    method_id: str,
) -> SavedPaymentMethod:
    """Through the provider's setup flow where it has one (a saga: the customer may have to
    authenticate), else attached at once. A refusal is a 422, its method kept ``failed``.

    The tenant's quota of saved methods is checked before the provider is asked, and again
    where the API stores the method itself (attached at once); a setup saga's method is
    stored by the saga, so concurrent setups of one tenant can pass the quota by as many
    as are in flight."""
    await run_transaction(
        session,
        enforce_quota,
        customer.tenant_id,
        "saved_payment_methods",
        settings.quotas,
        method_id,
    )
    customer, reference = await provider_customer(session, customer, adapter, provider)
    if isinstance(adapter, SetsUpPaymentMethods):
        save = SaveMethodInput(
            tenant_id=customer.tenant_id,
            customer_id=customer.customer_id,
            payment_method_id=method_id,
            provider=provider,
            customer_reference=reference,
            token=body.payment_method,
            set_default=body.set_default,
            action_timeout=settings.action_timeout,
            created_at=_now(),
        )
        method = await _set_up(session, temporal, settings, customer, save)
        if method.status == "failed":
            raise Problem("payment_method_refused", f"the provider said {method.failure_code}")
        return method
    return await _attach(
        session, customer, body, adapter, provider, method_id, reference, settings.quotas
    )


async def _set_up(
    session: Session,
    temporal: TemporalConnection,
    settings: Settings,
    customer: Customer,
    save: SaveMethodInput,
) -> SavedPaymentMethod:
    """The saga's first milestone; a retried request joins it, or reads what it left."""
    workflow_id = saved_method_workflow_id(customer.tenant_id, save.payment_method_id)
    start = WithStartWorkflowOperation(
        SavePaymentMethodWorkflow.run,
        save,
        id=workflow_id,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        static_summary=f"save a payment method for {customer.customer_id}",
        priority=tenant_priority(customer.tenant_id),
    )
    with temporal_call():
        try:
            client = await temporal.get()
            async with asyncio.timeout(settings.create_wait.total_seconds()):
                return await client.execute_update_with_start_workflow(
                    SavePaymentMethodWorkflow.answer, start_workflow_operation=start
                )
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # No worker has run it yet: a 503 is never replayed, so a retry under the same
            # Idempotency-Key joins the saga.
            raise Problem("temporal_unavailable", "the saga has not answered yet") from None
        except WorkflowAlreadyStartedError:
            found = await run_transaction(
                session,
                store.get_method,
                customer.tenant_id,
                customer.customer_id,
                save.payment_method_id,
            )
            if found is None:
                raise Problem("temporal_unavailable", "the saga ended with nothing saved") from None
            return found


async def provider_customer(
    session: Session, customer: Customer, adapter: SavesPaymentMethods, provider: str
) -> tuple[Customer, str]:
    """The customer's mirror at the provider, made the first time it is needed."""
    reference = customer.provider_customers.get(provider)
    if reference is None:
        command = SaveCustomerCommand(
            customer_id=customer.customer_id,
            tenant_id=customer.tenant_id,
            provider=provider,
            idempotency_key=f"{customer.customer_id}:{provider}:customer",
        )
        reference = await provider_answer(adapter.save_customer(command), METHOD_REFUSED)
        mirrors = customer.provider_customers | {provider: reference}
        customer = await run_transaction(
            session, store.update_customer, customer, {"provider_customers": mirrors}, _now()
        )
    return customer, reference


async def _attach(
    session: Session,
    customer: Customer,
    body: AttachPaymentMethodRequest,
    adapter: SavesPaymentMethods,
    provider: str,
    method_id: str,
    reference: str,
    quotas: TenantQuotas,
) -> SavedPaymentMethod:
    attach = AttachMethodCommand(
        customer_reference=reference,
        payment_method=body.payment_method,
        idempotency_key=f"{method_id}:attach",
    )
    card = await provider_answer(adapter.attach_method(attach), METHOD_REFUSED)
    method = SavedPaymentMethod(
        payment_method_id=method_id,
        customer_id=customer.customer_id,
        tenant_id=customer.tenant_id,
        provider=provider,
        provider_reference=card.reference,
        brand=card.brand,
        last4=card.last4,
        exp_month=card.exp_month,
        exp_year=card.exp_year,
        fingerprint=card.fingerprint,
        created_at=_now(),
    )
    stored = await run_transaction(session, _insert_method, method, quotas)
    if body.set_default or customer.default_payment_method is None:
        await make_default(session, customer, stored, adapter)
    return stored


def _insert_method(
    connection: Connection, method: SavedPaymentMethod, quotas: TenantQuotas
) -> SavedPaymentMethod:
    # Only a race with another save of the tenant's fails here: the method is then attached
    # at the provider and not stored, so nothing can charge it through us.
    enforce_quota(
        connection, method.tenant_id, "saved_payment_methods", quotas, method.payment_method_id
    )
    return store.insert_method(connection, method)


async def setup_action(
    method: SavedPaymentMethod, providers: dict[str, PaymentProvider]
) -> CustomerAction:
    """What the customer's client needs to finish saving the method (Stripe.js: the
    SetupIntent's client secret), asked of the provider each time; 409 when nothing is due."""
    adapter = providers.get(method.provider)
    action = None
    if isinstance(adapter, SetsUpPaymentMethods) and method.setup_reference:
        action = await provider_answer(adapter.setup_action(method.setup_reference), METHOD_REFUSED)
    if action is None:
        raise Problem("invalid_state", f"the method is {method.status}, with no action")
    return action


async def confirm_setup(temporal: Client, method: SavedPaymentMethod) -> None:
    """The customer's client is done: the saga asks the provider."""
    workflow_id = saved_method_workflow_id(method.tenant_id, method.payment_method_id)
    with temporal_call():
        await temporal.get_workflow_handle(workflow_id).signal(SavePaymentMethodWorkflow.confirm)


async def make_default(
    session: Session, customer: Customer, method: SavedPaymentMethod, adapter: SavesPaymentMethods
) -> Customer:
    """The provider's default first (Stripe's ``invoice_settings.default_payment_method``)."""
    reference = customer.provider_customers[method.provider]
    await provider_answer(
        adapter.set_default_method(reference, method.provider_reference), METHOD_REFUSED
    )
    changes = {"default_payment_method": method.payment_method_id}
    return await run_transaction(session, store.update_customer, customer, changes, _now())


async def update_customer(
    session: Session,
    customer: Customer,
    body: UpdateCustomerRequest,
    providers: dict[str, PaymentProvider],
    settings: Settings,
) -> Customer:
    if body.default_payment_method is not None:
        method = await find_method(session, customer, body.default_payment_method)
        adapter = saving_adapter(providers, settings, method.provider)
        customer = await make_default(session, customer, method, adapter)
    changes = body.model_dump(include=body.model_fields_set & {"name", "email", "description"})
    if not changes:
        return customer
    return await run_transaction(session, store.update_customer, customer, changes, _now())


async def detach(
    session: Session,
    method: SavedPaymentMethod,
    providers: dict[str, PaymentProvider],
    settings: Settings,
) -> SavedPaymentMethod:
    """Detached at the provider first: a method we call detached can never be charged."""
    adapter = saving_adapter(providers, settings, method.provider)
    await provider_answer(adapter.detach_method(method.provider_reference), METHOD_REFUSED)
    return await run_transaction(session, store.detach_method, method, _now())


def _now() -> datetime:
    return datetime.now(UTC)
