"""The provider adapters a process has, built from settings: the worker calls them, the API
verifies their webhooks. A provider without credentials is simply not configured."""

from activities.providers.base import PaymentProvider
from activities.providers.sandbox.adapter import SandboxGateway
from schemas.runtime.settings import Settings


def build_providers(settings: Settings) -> dict[str, PaymentProvider]:
    timeout = settings.provider_timeout.total_seconds()
    providers: dict[str, PaymentProvider] = {
        "sandbox": SandboxGateway(settings.sandbox_gateway_url, timeout_seconds=timeout)
    }
    if settings.stripe_api_key is not None:
        from activities.providers.stripe.adapter import StripeProvider

        secret = settings.stripe_webhook_secret
        providers["stripe"] = StripeProvider(
            settings.stripe_api_key.get_secret_value(),
            api_base=settings.stripe_api_base,
            connect_api_base=settings.stripe_connect_api_base,
            webhook_secret=secret.get_secret_value() if secret else None,
            timeout_seconds=timeout,
        )
    if settings.paypal_client_id and settings.paypal_client_secret is not None:
        from activities.providers.paypal.adapter import PayPalProvider

        providers["paypal"] = PayPalProvider(
            settings.paypal_base_url,
            settings.paypal_client_id,
            settings.paypal_client_secret.get_secret_value(),
            webhook_id=settings.paypal_webhook_id,
            return_url=settings.paypal_return_url,
            cancel_url=settings.paypal_cancel_url,
            timeout_seconds=timeout,
        )
    return providers


def configured_providers(settings: Settings) -> list[str]:
    """Names of the providers ``build_providers`` would build, without building them."""
    names = ["sandbox"]
    if settings.stripe_api_key is not None:
        names.append("stripe")
    if settings.paypal_client_id and settings.paypal_client_secret is not None:
        names.append("paypal")
    return names
