"""Test money and real money never mix: the sandbox (a test provider) cannot be on in a
process that holds live credentials, and a refusal never prints the credential."""

import pytest
from pydantic import ValidationError

from schemas.runtime.settings import Settings

LIVE_STRIPE_KEY = "sk_live_51PaysagaNotARealKey00"
PAYPAL_LIVE = "https://api-m.paypal.com"


@pytest.mark.parametrize(
    "live",
    [
        {"stripe_api_key": LIVE_STRIPE_KEY},
        {"stripe_api_key": "rk_live_51PaysagaRestricted00"},
        {"paypal_base_url": PAYPAL_LIVE},
        {"paypal_base_url": "https://api.paypal.com/"},
    ],
)
def test_the_sandbox_is_refused_next_to_live_credentials(live):
    with pytest.raises(ValidationError) as refused:
        Settings(sandbox_enabled=True, **live)
    assert "PAYSAGA_SANDBOX_ENABLED=false" in str(refused.value)
    assert LIVE_STRIPE_KEY not in str(refused.value)
    assert Settings(sandbox_enabled=False, **live).live_credentials()


def test_test_credentials_may_sit_next_to_the_sandbox():
    settings = Settings(
        sandbox_enabled=True,
        stripe_api_key="sk_test_51PaysagaTestKey00",
        paypal_base_url="https://api-m.sandbox.paypal.com",
    )
    assert settings.live_credentials() == []
