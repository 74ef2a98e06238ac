"""Search attributes operators filter on in the Temporal UI. Never PII or card data."""

from temporalio.common import SearchAttributeKey
from temporalio.common import SearchAttributePair
from temporalio.common import SearchAttributeUpdate
from temporalio.common import TypedSearchAttributes

from schemas.payments import PaymentInput
from schemas.payments import PaymentStatus

PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")
# Recurring billing: "past-due subscriptions", "plans charging tomorrow" (README).
SUBSCRIPTION_STATUS = SearchAttributeKey.for_keyword("SubscriptionStatus")
PLAN_ID = SearchAttributeKey.for_keyword("PlanId")
NEXT_CHARGE_AT = SearchAttributeKey.for_datetime("NextChargeAt")
INSTALLMENT_PLAN_STATUS = SearchAttributeKey.for_keyword("InstallmentPlanStatus")
INSTALLMENTS_PAID = SearchAttributeKey.for_int("InstallmentsPaid")
# Webhook deliveries: "everything failing to endpoint we_…", "undelivered payment.succeeded".
WEBHOOK_ENDPOINT_ID = SearchAttributeKey.for_keyword("WebhookEndpointId")
# A list of one: the dev server has ten Keyword attributes, and paysaga uses them all.
EVENT_TYPE = SearchAttributeKey.for_keyword_list("EventType")
DELIVERY_STATUS = SearchAttributeKey.for_keyword("DeliveryStatus")

ALL = [
    PAYMENT_STATUS,
    PAYMENT_PROVIDER,
    TENANT_ID,
    CURRENCY,
    AMOUNT_MINOR,
    CUSTOMER_ID,
    SUBSCRIPTION_STATUS,
    PLAN_ID,
    NEXT_CHARGE_AT,
    INSTALLMENT_PLAN_STATUS,
    INSTALLMENTS_PAID,
    WEBHOOK_ENDPOINT_ID,
    EVENT_TYPE,
    DELIVERY_STATUS,
]


def initial(payment: PaymentInput) -> list[SearchAttributePair]:
    """What a payment is filed under from its first moment: ``processing``, its identity."""
    return [
        SearchAttributePair(TENANT_ID, payment.tenant_id),
        SearchAttributePair(PAYMENT_PROVIDER, payment.provider),
        SearchAttributePair(CURRENCY, payment.currency),
        SearchAttributePair(AMOUNT_MINOR, payment.amount),
        SearchAttributePair(CUSTOMER_ID, payment.customer_id),
        SearchAttributePair(PAYMENT_STATUS, PaymentStatus.PROCESSING.value),
    ]


def initial_updates(payment: PaymentInput) -> list[SearchAttributeUpdate]:
    return [pair.key.value_set(pair.value) for pair in initial(payment)]


def at_start(payment: PaymentInput) -> TypedSearchAttributes:
    """Set by the API when it starts the workflow, so the workflow need not upsert them."""
    return TypedSearchAttributes(initial(payment))


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    type_names = {
        "KEYWORD": "Keyword",
        "KEYWORD_LIST": "KeywordList",
        "INT": "Int",
        "DATETIME": "Datetime",
    }
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={type_names[key.indexed_value_type.name]}"]
    return flags


def money_movement(
    tenant_id: str, currency: str | None, amount: int | None, provider: str | None = None
) -> TypedSearchAttributes:
    """Refunds and payouts: filed under their tenant, and their amount once it is known."""
    pairs = [SearchAttributePair(TENANT_ID, tenant_id)]
    if currency:
        pairs.append(SearchAttributePair(CURRENCY, currency))
    if amount is not None:
        pairs.append(SearchAttributePair(AMOUNT_MINOR, amount))
    if provider:
        pairs.append(SearchAttributePair(PAYMENT_PROVIDER, provider))
    return TypedSearchAttributes(pairs)


def webhook_delivery(tenant_id: str, endpoint_id: str, event_type: str) -> TypedSearchAttributes:
    """A delivery saga's, from its start (``pending``): its status is upserted as it ends."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, tenant_id),
            SearchAttributePair(WEBHOOK_ENDPOINT_ID, endpoint_id),
            SearchAttributePair(EVENT_TYPE, [event_type]),
            SearchAttributePair(DELIVERY_STATUS, "pending"),
        ]
    )


def tenant(tenant_id: str) -> TypedSearchAttributes:
    """A saga filed under its tenant alone (an email)."""
    return TypedSearchAttributes([SearchAttributePair(TENANT_ID, tenant_id)])
