"""Exact money: integer minor units and an ISO 4217 currency, never floats."""

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
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


class CurrencyNotSupported(ValueError):
    """The provider does not take this currency at all."""


class AmountNotRepresentable(ValueError):
    """The provider's API cannot carry this exact amount (its currency has fewer decimals
    there than in ISO 4217): rounding it would charge a different amount."""


@dataclass(frozen=True)
class ProviderCurrencies:
    """How one provider's API writes amounts: the currencies it takes and, where it
    disagrees with ISO 4217, the decimal digits its API amounts have.

    paysaga's amounts are always ISO minor units; an adapter converts at its edge, both ways,
    so a refund or capture of a converted payment is converted once, like the charge."""

    provider: str
    source: str  # the provider's page the table is copied from
    supported: frozenset[str] | None = None  # None: every chargeable ISO 4217 currency
    api_exponents: Mapping[str, int] = field(default_factory=dict)
    # Currencies whose payouts must be whole units even though charges may have decimals.
    whole_unit_payouts: frozenset[str] = frozenset()

    def api_exponent(self, currency: str) -> int:
        return self.api_exponents.get(currency, currency_exponent(currency))

    def to_provider(self, amount: int, currency: str) -> int:
        """``amount`` (ISO minor units) as the provider's API amount, exactly, or refused."""
        currency = currency.upper()
        if self.supported is not None and currency not in self.supported:
            raise CurrencyNotSupported(f"{self.provider} does not take {currency}")
        shift = self.api_exponent(currency) - currency_exponent(currency)
        if shift >= 0:
            return amount * 10**shift
        whole, rest = divmod(amount, 10**-shift)
        if rest:
            raise AmountNotRepresentable(
                f"{self.provider} takes {currency} in whole units only: "
                f"{format_minor(amount, currency)} cannot be sent exactly"
            )
        return whole

    def from_provider(self, amount: int, currency: str) -> int:
        """A provider's API amount back in ISO minor units (always exact)."""
        currency = currency.upper()
        shift = currency_exponent(currency) - self.api_exponent(currency)
        return amount * 10**shift if shift >= 0 else amount // 10**-shift

    def to_provider_payout(self, amount: int, currency: str) -> int:
        """Like ``to_provider``, also refusing a fraction in a whole-units-for-payouts currency."""
        sent = self.to_provider(amount, currency)
        unit = 10 ** currency_exponent(currency.upper())
        if currency.upper() in self.whole_unit_payouts and amount % unit:
            raise AmountNotRepresentable(
                f"{self.provider} pays out {currency.upper()} in whole units only: "
                f"{format_minor(amount, currency.upper())} cannot be sent exactly"
            )
        return sent


# The sandbox gateway is ours: it speaks ISO 4217 as paysaga does.
ISO_CURRENCIES = ProviderCurrencies(provider="sandbox", source="ISO 4217")
