"""The provider servers as pytest fixtures, one of each per test package that imports them
into its conftest: localstripe, the fake Stripe Connect, Stripe as a stack sees it
(localstripe with the fake's disputes in front) and the fake PayPal."""

from collections.abc import Iterator

import pytest

from tests.support.fake_paypal import FakePayPal
from tests.support.fake_paypal import serve_fake_paypal
from tests.support.fake_stripe_connect import serve_fake_connect
from tests.support.localstripe import start_localstripe
from tests.support.provider_proxy import ProviderProxy
from tests.support.served import serve_app

# What localstripe lacks and the fake serves, on localstripe's own charges.
STRIPE_FAKE_PATHS = ("/v1/disputes", "/_test/disputes", "/v1/balance_transactions")


@pytest.fixture(scope="package")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe's base URL."""
    with start_localstripe(tmp_path_factory.mktemp("localstripe") / "localstripe.log") as url:
        yield url


@pytest.fixture(scope="package")
def stripe_connect() -> Iterator[str]:
    """The fake Stripe Connect's base URL (localstripe lacks Connect)."""
    with serve_fake_connect() as url:
        yield url


@pytest.fixture(scope="package")
def stripe_api(localstripe: str) -> Iterator[str]:
    """One Stripe base URL: disputes and balance transactions from the fake (which reads
    localstripe's charges and lists its balance transactions too), the rest localstripe."""
    with serve_fake_connect(localstripe) as fake:
        proxy = ProviderProxy(
            [(path, fake) for path in STRIPE_FAKE_PATHS] + [("", localstripe)],
            lambda status: {"error": {"type": "api_error", "message": f"HTTP {status}"}},
        )
        with serve_app(proxy.app, "Stripe (localstripe and the fake)") as url:
            yield url


@pytest.fixture(scope="package")
def paypal() -> Iterator[FakePayPal]:
    with serve_fake_paypal() as fake:
        yield fake
