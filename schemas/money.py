"""Exact money: integer minor units and an ISO 4217 currency, never floats."""

from decimal import Decimal
from typing import Annotated

from iso4217 import Currency
from pydantic import AfterValidator
from pydantic import BeforeValidator
from pydantic import Field
from pydantic import StrictInt

# Stripe's own ceiling is 8 digits for most currencies; 11 digits leaves room for
# zero-exponent currencies (JPY, IDR, KRW) while staying far below int64.
MAX_AMOUNT_MINOR = 99_999_999_999


def currency_exponent(code: str) -> int:
    """Digits after the decimal point for an ISO 4217 currency (e.g. 2 for USD)."""
    exponent = Currency(code).exponent
    if exponent is None:
        raise ValueError(f"{code} is not a currency that can be charged")
    return exponent


def format_minor(amount: int, currency: str) -> str:
    """Human-readable amount for operators, e.g. ``19.99 USD`` (exact: Decimal, no float)."""
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f} {currency}"


# The ISO 4217 table comes from the iso4217 package (maintained, not hand-typed); funds,
# metals and test codes have no minor unit and cannot be charged.
CHARGEABLE_CURRENCIES = frozenset(c.code for c in Currency if c.exponent is not None)


def _validate_currency(code: str) -> str:
    if code not in CHARGEABLE_CURRENCIES:
        raise ValueError("not an ISO 4217 currency that can be charged (uppercase, e.g. USD)")
    return code


CurrencyCode = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        pattern=r"^[A-Z]{3}$",
        examples=["USD"],
        json_schema_extra={"enum": sorted(CHARGEABLE_CURRENCIES)},
    ),
    AfterValidator(_validate_currency),
]

# Providers (Stripe, the sandbox gateway) also take "usd"; paysaga's own API does not.
ProviderCurrencyCode = Annotated[
    CurrencyCode, BeforeValidator(lambda code: code.upper() if isinstance(code, str) else code)
]

AmountMinor = Annotated[
    StrictInt,
    Field(gt=0, le=MAX_AMOUNT_MINOR, description="Amount in the currency's minor unit"),
]
