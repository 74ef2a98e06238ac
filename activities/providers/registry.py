"""The provider adapters a process has, built from settings: the worker calls them, the API
verifies their webhooks. A provider without credentials is simply not configured.

``PROVIDERS`` is the one list of providers: a row per provider says when settings configure
it and how to build it. The SDK-backed adapters are imported only when built.
"""

from collections.abc import Callable
from dataclasses import dataclass

from activities.providers.base import PaymentProvider
from activities.providers.paypal.currencies import PAYPAL_CURRENCIES
from activities.providers.sandbox.adapter import SandboxGateway
from activities.providers.stripe.currencies import STRIPE_CURRENCIES
from schemas.money import ISO_CURRENCIES
from schemas.money import ProviderCurrencies
from schemas.runtime.settings import Settings


@dataclass(frozen=True)
class Plugin:
    name: str
    configured: Callable[[Settings], bool]
    build: Callable[[Settings], PaymentProvider]
    # The currencies its API takes and their decimals (next to each adapter).
    currencies: ProviderCurrencies


def _timeout(settings: Settings) -> float:
    return settings.provider_timeout.total_seconds()


def _sandbox(settings: Settings) -> PaymentProvider:
    secret = settings.sandbox_webhook_secret
    token = settings.sandbox_gateway_token
    return SandboxGateway(
        settings.sandbox_gateway_url,
        timeout_seconds=_timeout(settings),
        webhook_secret=secret.get_secret_value() if secret else None,
        token=token.get_secret_value() if token else None,
    )


def _stripe(settings: Settings) -> PaymentProvider:
    from activities.providers.stripe.adapter import StripeProvider

    secret = settings.stripe_webhook_secret
    connect_secret = settings.stripe_connect_webhook_secret
    return StripeProvider(
        settings.stripe_api_key.get_secret_value(),
        api_base=settings.stripe_api_base,
        connect_api_base=settings.stripe_connect_api_base,
        webhook_secret=secret.get_secret_value() if secret else None,
        connect_webhook_secret=connect_secret.get_secret_value() if connect_secret else None,
        timeout_seconds=_timeout(settings),
    )


def _paypal(settings: Settings) -> PaymentProvider:
    from activities.providers.paypal.adapter import PayPalProvider

    return PayPalProvider(
        settings.paypal_base_url,
        settings.paypal_client_id,
        settings.paypal_client_secret.get_secret_value(),
        webhook_id=settings.paypal_webhook_id,
        return_url=settings.paypal_return_url,
        cancel_url=settings.paypal_cancel_url,
        timeout_seconds=_timeout(settings),
    )


PROVIDERS = (
    Plugin(
        "sandbox",
        configured=lambda settings: settings.sandbox_enabled,
        build=_sandbox,
        currencies=ISO_CURRENCIES,
    ),
    Plugin(
        "stripe",
        configured=lambda settings: settings.stripe_api_key is not None,
        build=_stripe,
        currencies=STRIPE_CURRENCIES,
    ),
    Plugin(
        "paypal",
        configured=lambda settings: (
            bool(settings.paypal_client_id) and settings.paypal_client_secret is not None
        ),
        build=_paypal,
        currencies=PAYPAL_CURRENCIES,
    ),
)


def configured_providers(settings: Settings) -> list[str]:
    """Names of the providers ``build_providers`` would build, without building them."""
    return [plugin.name for plugin in _configured(settings)]


def provider_currencies(name: str) -> ProviderCurrencies:
    """How provider ``name``'s API writes amounts (which currencies, how many decimals)."""
    return next(plugin.currencies for plugin in PROVIDERS if plugin.name == name)


def build_providers(settings: Settings) -> dict[str, PaymentProvider]:
    return {plugin.name: plugin.build(settings) for plugin in _configured(settings)}


def _configured(settings: Settings) -> list[Plugin]:
    return [plugin for plugin in PROVIDERS if plugin.configured(settings)]
