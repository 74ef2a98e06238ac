"""Routing: which providers a payment goes to, in order (first tried, the rest failovers)."""

import pytest

from schemas.domain.routing import NoEligibleProvider
from schemas.domain.routing import RoutingPolicy
from schemas.domain.routing import RoutingRule
from schemas.domain.routing import payment_method_type
from schemas.domain.routing import route

ALL = ["sandbox", "stripe", "paypal"]
POLICY = RoutingPolicy(
    rules=[
        RoutingRule(tenant="ten_stripe_first", providers=["stripe", "sandbox"]),
        RoutingRule(currency="gbp", providers=["sandbox", "stripe"]),
        RoutingRule(payment_method_type="paypal", providers=["paypal"]),
        RoutingRule(currency="EUR", providers=["paypal"]),  # no card provider: skipped
    ],
    default=["sandbox"],
)


def routed(configured=ALL, tenant="ten_a", currency="USD", method="tok_visa", requested=None):
    return route(
        POLICY,
        configured,
        tenant=tenant,
        currency=currency,
        payment_method=method,
        requested=requested,
    )


@pytest.mark.parametrize(
    ("token", "kind"),
    [("tok_visa", "card"), ("pm_card_visa", "card"), ("pm_paypal", "paypal")],
)
def test_payment_method_type(token, kind):
    assert payment_method_type(token) == kind


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ({}, ["sandbox"]),  # no rule matches: the default
        ({"tenant": "ten_stripe_first"}, ["stripe", "sandbox"]),  # tenant default
        ({"currency": "GBP"}, ["sandbox", "stripe"]),  # by currency, case-insensitive
        ({"method": "pm_paypal"}, ["paypal"]),  # by payment-method type
        ({"currency": "EUR"}, ["sandbox"]),  # the EUR rule has no card provider
        ({"requested": "stripe", "currency": "GBP"}, ["stripe"]),  # asked for: used alone
        ({"currency": "GBP", "configured": ["sandbox"]}, ["sandbox"]),  # not configured
        ({"tenant": "ten_stripe_first", "configured": ["sandbox"]}, ["sandbox"]),
    ],
)
def test_rules_in_order(case, expected):
    assert routed(**case) == expected


def test_a_paypal_wallet_falls_back_to_any_configured_paypal():
    policy = RoutingPolicy(default=["sandbox"])
    assert route(policy, ALL, tenant="t", currency="USD", payment_method="pm_paypal") == ["paypal"]


@pytest.mark.parametrize(
    "case",
    [
        {"requested": "stripe", "configured": ["sandbox"]},  # not configured here
        {"requested": "paypal", "method": "tok_visa"},  # PayPal takes no cards
        {"method": "pm_paypal", "configured": ["sandbox", "stripe"]},
    ],
)
def test_no_eligible_provider(case):
    with pytest.raises(NoEligibleProvider):
        routed(**case)


def test_a_provider_switched_off_is_never_picked_even_as_the_default():
    # The sandbox is off where real money moves: the policy's default falls through to
    # what is configured, and naming it is refused.
    assert routed(configured=["stripe", "paypal"]) == ["stripe"]
    assert routed(configured=["stripe"], currency="GBP") == ["stripe"]
    with pytest.raises(NoEligibleProvider):
        routed(configured=["stripe"], requested="sandbox")
