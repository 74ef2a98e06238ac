"""The registry is the one list of providers: the names in the API's contracts
(``ProviderName``), the routing table and the default route all agree with it, and what it
says is configured is what it builds."""

from typing import get_args

import pytest
from pydantic import SecretStr

from activities.providers.base import PaymentProvider
from activities.providers.registry import PROVIDERS
from activities.providers.registry import build_providers
from activities.providers.registry import configured_providers
from schemas.domain.routing import ACCEPTS
from schemas.domain.routing import RoutingPolicy
from schemas.payments import ProviderName
from schemas.runtime.settings import Settings

NAMES = [plugin.name for plugin in PROVIDERS]
STRIPE = {
    "stripe_api_key": SecretStr("sk_test_registry"),
    "stripe_webhook_secret": SecretStr("whsec_x"),
}
PAYPAL = {
    "paypal_client_id": "client",
    "paypal_client_secret": SecretStr("fake-paypal-client-secret"),
}


def test_provider_names_agree_everywhere() -> None:
    assert len(set(NAMES)) == len(NAMES)
    assert NAMES == list(get_args(ProviderName))
    assert set(ACCEPTS) == set(NAMES)  # what each provider can charge, for routing
    assert set(RoutingPolicy().default) <= set(NAMES)


@pytest.mark.parametrize(
    ("credentials", "expected"),
    [
        ({}, ["sandbox"]),
        (STRIPE, ["sandbox", "stripe"]),
        (PAYPAL, ["sandbox", "paypal"]),
        (STRIPE | PAYPAL, ["sandbox", "stripe", "paypal"]),
        ({"paypal_client_id": "client"}, ["sandbox"]),  # no secret: not configured
    ],
)
async def test_what_is_configured_is_what_is_built(credentials: dict, expected: list[str]) -> None:
    settings = Settings(_env_file=None, **credentials)
    assert configured_providers(settings) == expected
    providers = build_providers(settings)
    try:
        assert list(providers) == expected
        for name, provider in providers.items():
            assert isinstance(provider, PaymentProvider)
            assert provider.name == name
    finally:
        for provider in providers.values():
            await provider.aclose()
