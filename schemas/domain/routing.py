"""Which providers a payment goes to, in order: the first is tried, the rest are failovers.

Decided once, when the payment starts, from configuration (``Settings.routing``), so the
saga's input says where it may go and a replay never re-routes. A provider named in the
request is used alone: the client chose it.
"""

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

# What each provider can charge: PayPal only its own wallet (the buyer approves at PayPal),
# the card processors only cards (``tok_…``/``pm_…`` tokens of a card).
ACCEPTS = {"sandbox": {"card"}, "stripe": {"card"}, "paypal": {"paypal"}}


class RoutingRule(BaseModel):
    """Providers to try, in order, for payments matching every condition that is set."""

    model_config = ConfigDict(extra="forbid")

    tenant: str | None = None
    currency: str | None = None
    payment_method_type: str | None = None  # "card" or "paypal" (ACCEPTS)
    providers: Annotated[list[str], Field(min_length=1)]


class RoutingPolicy(BaseModel):
    """``PAYSAGA_ROUTING='{"rules": [...], "default": ["sandbox"]}'``: the first matching
    rule wins; a provider named in the request is used alone."""

    model_config = ConfigDict(extra="forbid")

    rules: list[RoutingRule] = Field(default_factory=list)
    default: Annotated[list[str], Field(min_length=1)] = Field(default_factory=lambda: ["sandbox"])


class NoEligibleProvider(ValueError):
    """No configured provider can take this payment (the API answers 422)."""


def payment_method_type(token: str) -> str:
    """``paypal`` for a PayPal wallet (``pm_paypal…``), else ``card``."""
    return "paypal" if token.startswith("pm_paypal") else "card"


def route(
    policy: RoutingPolicy,
    configured: Sequence[str],
    *,
    tenant: str,
    currency: str,
    payment_method: str,
    requested: str | None = None,
) -> list[str]:
    method = payment_method_type(payment_method)

    def eligible(names: Sequence[str]) -> list[str]:
        seen: list[str] = []
        for name in names:
            if name in configured and method in ACCEPTS.get(name, ()) and name not in seen:
                seen.append(name)
        return seen

    if requested is not None:
        chosen = eligible([requested])
        if not chosen:
            raise NoEligibleProvider(
                f"provider {requested!r} is not configured or does not accept {method} payments"
            )
        return chosen
    for rule in policy.rules:
        if _matches(rule, tenant, currency, method):
            chosen = eligible(rule.providers)
            if chosen:
                return chosen
    chosen = eligible(policy.default) or eligible(configured)
    if not chosen:
        raise NoEligibleProvider(f"no configured provider accepts {method} payments")
    return chosen


def _matches(rule: RoutingRule, tenant: str, currency: str, method: str) -> bool:
    return (
        (rule.tenant is None or rule.tenant == tenant)
        and (rule.currency is None or rule.currency.upper() == currency.upper())
        and (rule.payment_method_type is None or rule.payment_method_type == method)
    )
