"""Each provider's amounts where its API disagrees with ISO 4217: converted exactly, or
refused before any call, and converted back to the same ISO amount."""

import pytest

from activities.providers.paypal.currencies import PAYPAL_CURRENCIES
from activities.providers.paypal.http import minor_units
from activities.providers.paypal.http import paypal_amount
from activities.providers.registry import provider_currencies
from activities.providers.stripe.currencies import STRIPE_CURRENCIES
from schemas.errors import INVALID_REQUEST
from schemas.money import CHARGEABLE_CURRENCIES
from schemas.money import ISO_CURRENCIES
from schemas.money import AmountNotRepresentable
from schemas.money import CurrencyNotSupported
from schemas.money import currency_exponent


@pytest.mark.parametrize(
    ("currency", "iso_amount", "stripe_amount"),
    [
        ("MGA", 50_000, 500),  # 500.00 MGA in ISO minor units: 500 ariary at Stripe
        ("ISK", 5, 500),  # 5 ISK: Stripe keeps two (always zero) decimals
        ("UGX", 5, 500),  # 5 UGX: the same special case
        ("HUF", 1999, 1999),  # charged with two decimals, like ISO
        ("TWD", 1999, 1999),
        ("JPY", 500, 500),  # zero-decimal for both
        ("USD", 1999, 1999),
    ],
)
def test_stripe_converts_iso_amounts_both_ways(currency, iso_amount, stripe_amount):
    assert STRIPE_CURRENCIES.to_provider(iso_amount, currency) == stripe_amount
    assert STRIPE_CURRENCIES.from_provider(stripe_amount, currency) == iso_amount


def test_stripe_refuses_a_fractional_ariary():
    with pytest.raises(AmountNotRepresentable, match=r"19\.99 MGA"):
        STRIPE_CURRENCIES.to_provider(1999, "MGA")


@pytest.mark.parametrize("currency", ["HUF", "TWD"])
def test_stripe_pays_out_huf_and_twd_in_whole_units_only(currency):
    assert STRIPE_CURRENCIES.to_provider_payout(10_000, currency) == 10_000
    with pytest.raises(AmountNotRepresentable):
        STRIPE_CURRENCIES.to_provider_payout(1045, currency)


@pytest.mark.parametrize("currency", ["HUF", "TWD"])
def test_paypal_takes_huf_and_twd_in_whole_units(currency):
    assert PAYPAL_CURRENCIES.to_provider(150_000, currency) == 1500
    assert paypal_amount(150_000, currency) == {"currency_code": currency, "value": "1500"}
    assert minor_units({"currency_code": currency, "value": "1500"}) == 150_000
    with pytest.raises(AmountNotRepresentable):
        PAYPAL_CURRENCIES.to_provider(150_050, currency)


def test_paypal_refuses_a_fraction_or_a_currency_before_any_call():
    with pytest.raises(Exception) as fraction:
        paypal_amount(1999, "HUF")
    assert fraction.value.type == INVALID_REQUEST  # non-retryable: no call is made
    with pytest.raises(Exception) as unknown:
        paypal_amount(1999, "MGA")
    assert unknown.value.type == INVALID_REQUEST
    with pytest.raises(CurrencyNotSupported):
        PAYPAL_CURRENCIES.to_provider(1999, "MGA")


def test_paypal_jpy_and_two_decimal_currencies_match_iso():
    assert paypal_amount(500, "JPY")["value"] == "500"
    assert paypal_amount(1999, "EUR")["value"] == "19.99"


def test_every_disagreement_with_iso_is_in_a_table():
    """The currencies each table overrides are exactly those the docs name."""
    disagree = {
        code
        for table in (STRIPE_CURRENCIES, PAYPAL_CURRENCIES)
        for code, exponent in table.api_exponents.items()
        if exponent != currency_exponent(code)
    }
    assert disagree == {"MGA", "ISK", "UGX", "HUF", "TWD"}


def test_the_sandbox_speaks_iso():
    assert provider_currencies("sandbox") is ISO_CURRENCIES
    for code in CHARGEABLE_CURRENCIES:
        assert ISO_CURRENCIES.to_provider(1999 * 100, code) == 1999 * 100
