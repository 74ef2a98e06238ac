"""The currencies PayPal's REST API takes and how it writes them.

Source: PayPal, "Currency codes" (https://developer.paypal.com/api/rest/reference/currency-codes/):
the list below, where HUF, JPY and TWD "do not support decimals. If you pass a decimal
amount, an error occurs." ISO 4217 agrees for JPY (0) but gives HUF and TWD 2 decimals, so
their ISO amounts must be whole forints / dollars (a multiple of 100) to be sent exactly.
"""

from schemas.money import ProviderCurrencies

PAYPAL_CURRENCIES = ProviderCurrencies(
    provider="paypal",
    source="https://developer.paypal.com/api/rest/reference/currency-codes/",
    supported=frozenset(
        "AUD BRL CAD CNY CZK DKK EUR HKD HUF INR ILS JPY MYR MXN TWD NZD NOK PHP PLN GBP SGD "
        "SEK CHF THB USD".split()
    ),
    api_exponents={"HUF": 0, "TWD": 0},
)
