"""The provider servers as pytest fixtures, one of each per test package that imports them
into its conftest: localstripe, the fake Stripe Connect and the fake PayPal."""

from collections.abc import Iterator

import pytest

from tests.support.fake_paypal import FakePayPal
from tests.support.fake_paypal import serve_fake_paypal
from tests.support.fake_stripe_connect import serve_fake_connect
from tests.support.localstripe import start_localstripe


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
def paypal() -> Iterator[FakePayPal]:
    with serve_fake_paypal() as fake:
        yield fake
