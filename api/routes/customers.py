"""Customers and their saved payment methods (``api/customers.py`` says how they are
mirrored at the providers)."""

from datetime import UTC
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path
from fastapi import Response
from fastapi import status
from fastapi.responses import JSONResponse
from sqlalchemy import Connection

from api import customers
from api.auth import TenantDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import ProvidersDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalConnectionDep
from api.dependencies import run_transaction
from api.idempotency import json_response
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.query_parameters import PageSize
from schemas.customers import AttachPaymentMethodRequest
from schemas.customers import CreateCustomerRequest
from schemas.customers import Customer
from schemas.customers import CustomerList
from schemas.customers import SavedPaymentMethod
from schemas.customers import SavedPaymentMethodList
from schemas.customers import UpdateCustomerRequest
from schemas.identity import new_customer_id
from schemas.identity import new_saved_method_id
from schemas.payments import ProviderName
from schemas.provider import CustomerAction
from schemas.store import customers as store
from schemas.store.quotas import enforce_quota
from schemas.tenants import TenantQuotas

router = APIRouter(prefix="/v1/customers", tags=["customers"])

CustomerIdPath = Annotated[str, Path(description="A customer id, `cust_…`")]
MethodIdPath = Annotated[str, Path(description="A saved payment method id, `spm_…`")]
SAVING_PROBLEMS = (
    "customer_not_found",
    "provider_disabled",
    "provider_cannot_save_methods",
    "payment_method_refused",
    "provider_unavailable",
    "temporal_unavailable",
)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Customer,
    responses=problems("quota_exceeded", *IDEMPOTENCY_PROBLEMS),
)
async def create_customer(
    body: CreateCustomerRequest,
    session: SessionDep,
    once: OptionallyIdempotentDep,
    settings: SettingsDep,
) -> Response:
    """A customer; it is mirrored at a provider once a method is saved there. A tenant at
    its quota of customers gets 409 `quota_exceeded`."""

    async def store_it(customer_id: str) -> Response:
        now = datetime.now(UTC)
        row = body.model_dump() | {
            "customer_id": customer_id,
            "tenant_id": once.tenant,
            "created_at": now,
            "updated_at": now,
        }
        stored = await run_transaction(session, _insert_customer, row, settings.quotas)
        return json_response(stored, status.HTTP_201_CREATED)

    return await once.create(store_it, body, new_customer_id)


def _insert_customer(connection: Connection, row: dict, quotas: TenantQuotas) -> Customer:
    enforce_quota(connection, row["tenant_id"], "customers", quotas, row["customer_id"])
    return store.insert_customer(connection, row)


@router.get("")
async def list_customers(
    tenant: TenantDep, session: SessionDep, limit: PageSize = 100
) -> CustomerList:
    """The tenant's customers, newest first."""
    return CustomerList(data=await run_transaction(session, store.newest_customers, tenant, limit))


@router.get("/{customer_id}", responses=problems("customer_not_found"))
async def get_customer(
    tenant: TenantDep, customer_id: CustomerIdPath, session: SessionDep
) -> Customer:
    return await customers.find_customer(session, tenant, customer_id)


@router.patch(
    "/{customer_id}",
    responses=problems(*SAVING_PROBLEMS, "saved_payment_method_not_found"),
)
async def update_customer(
    tenant: TenantDep,
    customer_id: CustomerIdPath,
    body: UpdateCustomerRequest,
    session: SessionDep,
    providers: ProvidersDep,
    settings: SettingsDep,
) -> Customer:
    """Change the fields sent; `default_payment_method` is set at its provider too
    (Stripe's `invoice_settings.default_payment_method`)."""
    customer = await customers.find_customer(session, tenant, customer_id)
    return await customers.update_customer(session, customer, body, providers, settings)


@router.post(
    "/{customer_id}/payment-methods",
    status_code=status.HTTP_201_CREATED,
    response_model=SavedPaymentMethod,
    responses=problems(*SAVING_PROBLEMS, "quota_exceeded", *IDEMPOTENCY_PROBLEMS),
)
async def save_payment_method(
    tenant: TenantDep,
    customer_id: CustomerIdPath,
    body: AttachPaymentMethodRequest,
    session: SessionDep,
    providers: ProvidersDep,
    settings: SettingsDep,
    once: OptionallyIdempotentDep,
    temporal: TemporalConnectionDep,
) -> Response:
    """Save a provider token for later charges, off-session included, on the customer's
    mirror at the provider (`pm_…`: Stripe; `tok_…`: the sandbox). At Stripe it goes through
    a SetupIntent: a card that asks for 3-D Secure is answered `requires_action` until the
    customer authenticates (`GET …/customer-action`, then `POST …/confirm`). Only what the
    provider says of the card is kept (brand, last4, expiry, fingerprint). The first method
    saved becomes the default. A tenant at its quota of saved methods (every one it ever
    saved counts) gets 409 `quota_exceeded` before the provider is asked."""
    customer = await customers.find_customer(session, tenant, customer_id)
    provider: ProviderName = body.provider or (
        "stripe" if body.payment_method.startswith("pm_") else "sandbox"
    )
    adapter = customers.saving_adapter(providers, settings, provider)

    async def save(method_id: str) -> Response:
        saved = await customers.save_method(
            session, temporal, settings, customer, body, adapter, provider, method_id
        )
        return json_response(saved, status.HTTP_201_CREATED)

    return await once.create(save, body, new_saved_method_id)


@router.get("/{customer_id}/payment-methods", responses=problems("customer_not_found"))
async def list_payment_methods(
    tenant: TenantDep, customer_id: CustomerIdPath, session: SessionDep
) -> SavedPaymentMethodList:
    """The customer's saved methods (detached ones are gone), oldest first."""
    customer = await customers.find_customer(session, tenant, customer_id)
    methods = await run_transaction(session, store.methods_of, tenant, customer.customer_id)
    return SavedPaymentMethodList(data=methods)


@router.delete(
    "/{customer_id}/payment-methods/{payment_method_id}",
    responses=problems(
        "customer_not_found", "saved_payment_method_not_found", "provider_unavailable"
    ),
)
async def detach_payment_method(
    tenant: TenantDep,
    customer_id: CustomerIdPath,
    payment_method_id: MethodIdPath,
    session: SessionDep,
    providers: ProvidersDep,
    settings: SettingsDep,
) -> SavedPaymentMethod:
    """Detach the method at its provider; it can no longer be charged."""
    customer = await customers.find_customer(session, tenant, customer_id)
    method = await customers.find_method(session, customer, payment_method_id)
    return await customers.detach(session, method, providers, settings)


@router.get(
    "/{customer_id}/payment-methods/{payment_method_id}/customer-action",
    response_model=CustomerAction,
    response_model_exclude_none=True,
    responses=problems(
        "customer_not_found",
        "saved_payment_method_not_found",
        "invalid_state",
        "provider_unavailable",
    ),
)
async def get_setup_action(
    tenant: TenantDep,
    customer_id: CustomerIdPath,
    payment_method_id: MethodIdPath,
    session: SessionDep,
    providers: ProvidersDep,
) -> Response:
    """What the customer's client needs to finish saving a `requires_action` method: for
    Stripe.js `handleNextAction` the SetupIntent's client secret. Asked of the provider on
    each call and kept nowhere; answered with `Cache-Control: no-store`."""
    customer = await customers.find_customer(session, tenant, customer_id)
    method = await customers.find_method(session, customer, payment_method_id, "requires_action")
    action = await customers.setup_action(method, providers)
    body = action.model_dump(mode="json", exclude_none=True)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post(
    "/{customer_id}/payment-methods/{payment_method_id}/confirm",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SavedPaymentMethod,
    responses=problems(
        "customer_not_found", "saved_payment_method_not_found", "temporal_unavailable"
    ),
)
async def confirm_setup(
    tenant: TenantDep,
    customer_id: CustomerIdPath,
    payment_method_id: MethodIdPath,
    session: SessionDep,
    temporal: TemporalConnectionDep,
) -> Response:
    """The customer finished the provider's action: the saga asks the provider; 202 with the
    method as it was."""
    customer = await customers.find_customer(session, tenant, customer_id)
    method = await customers.find_method(session, customer, payment_method_id, "requires_action")
    await customers.confirm_setup(await temporal.get(), method)
    return json_response(method, status.HTTP_202_ACCEPTED)
