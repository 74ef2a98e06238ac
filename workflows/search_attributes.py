"""Search attributes operators filter on in the Temporal UI. Never PII or card data."""

from temporalio.common import SearchAttributeKey

PAYMENT_STATUS = SearchAttributeKey.for_keyword("PaymentStatus")
PAYMENT_PROVIDER = SearchAttributeKey.for_keyword("PaymentProvider")
TENANT_ID = SearchAttributeKey.for_keyword("TenantId")
CURRENCY = SearchAttributeKey.for_keyword("Currency")
AMOUNT_MINOR = SearchAttributeKey.for_int("AmountMinor")
CUSTOMER_ID = SearchAttributeKey.for_keyword("CustomerId")

ALL = [PAYMENT_STATUS, PAYMENT_PROVIDER, TENANT_ID, CURRENCY, AMOUNT_MINOR, CUSTOMER_ID]


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    type_names = {"KEYWORD": "Keyword", "INT": "Int"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={type_names[key.indexed_value_type.name]}"]
    return flags
