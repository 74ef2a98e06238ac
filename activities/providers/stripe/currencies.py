"""How Stripe's API writes amounts, where it disagrees with ISO 4217.

Source: Stripe, "Supported currencies" (https://docs.stripe.com/currencies), sections
"Zero-decimal currencies" and "Special cases"; and Stripe Support, "Deprecation of
fractional ISK charges and refunds".

- Zero-decimal: BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF take the
  amount in whole units. ISO 4217 agrees for all but MGA, which ISO gives 2 decimals: an
  ISO amount of 1999 (19.99 MGA) would reach Stripe as 1,999 ariary.
- ISK and UGX (special cases): zero-decimal in fact, but the API keeps them two-decimal for
  backwards compatibility, the decimals always 00 (5 ISK is ``500``); ISO gives them 0.
- HUF and TWD (special cases): charged with two decimals like ISO, but Stripe pays them out
  as zero-decimal: a payout amount must be evenly divisible by 100.

Every other chargeable ISO currency is written with ISO's decimals; one Stripe does not
take is refused by Stripe itself (``invalid_request``), never converted.
"""

from schemas.money import ProviderCurrencies

STRIPE_CURRENCIES = ProviderCurrencies(
    provider="stripe",
    source="https://docs.stripe.com/currencies#zero-decimal, #special-cases",
    api_exponents={"MGA": 0, "ISK": 2, "UGX": 2},
    whole_unit_payouts=frozenset({"HUF", "TWD"}),
)
