"""The scan every end-to-end response goes through catches what it is there to catch."""

import json

import pytest

from tests.support.response_scan import assert_nothing_secret

KEY = "sk_0123456789ab_" + "A" * 43
SIGNING_SECRET = "whsec_" + "Ab+/" * 10 + "xyz="
CLEAN = {
    "payment_id": "pay_4242424242424242abcdef01",
    "amount": 99_999_999_999,
    "created_at": "2026-11-23T10:00:00.123456Z",
    "provider_reference": "ch_1234567890123456",
}


def check(body, path="/v1/payments", status=200, headers=None, method="GET"):
    assert_nothing_secret(method, path, status, headers or {}, json.dumps(body))


def test_ordinary_payment_responses_pass():
    check(CLEAN)
    check({**CLEAN, "note": "4242424242424241"})  # 16 digits, not Luhn-valid
    # A float's fraction is no card, however many digits it has.
    check({**CLEAN, "threshold": 0.004242424242424242})


@pytest.mark.parametrize(
    "leak",
    [
        {"pan": "4242424242424242"},
        {"detail": "card 378282246310005 declined"},
        {"key": KEY},
        {"hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"},
        {"secret": SIGNING_SECRET},
    ],
)
def test_secrets_and_cards_in_a_body_fail(leak):
    with pytest.raises(AssertionError):
        check({**CLEAN, **leak})


def test_a_key_in_a_header_fails():
    with pytest.raises(AssertionError):
        check(CLEAN, headers={"X-Debug": f"Bearer {KEY}"})


def test_the_new_key_is_allowed_in_its_secret_field_only():
    created = {"id": "key_0123456789abcdef01234567", "prefix": "0123456789ab", "secret": KEY}
    path = "/v1/admin/tenants/ten_x/keys"
    check(created, path=path, status=201, method="POST")
    with pytest.raises(AssertionError):
        check({**created, "detail": KEY}, path=path, status=201, method="POST")
    with pytest.raises(AssertionError):
        check(created, path="/v1/admin/tenants/ten_x/keys", status=200)  # a list never shows it


@pytest.mark.parametrize(
    ("path", "status"),
    [("/v1/webhook-endpoints", 201), ("/v1/webhook-endpoints/we_x/rotate-secret", 200)],
)
def test_a_new_webhook_secret_is_allowed_in_its_secret_field_only(path, status):
    created = {"id": "we_0123456789abcdef01234567", "secret": SIGNING_SECRET}
    check(created, path=path, status=status, method="POST")
    with pytest.raises(AssertionError):
        check({**created, "description": SIGNING_SECRET}, path=path, status=status, method="POST")
    with pytest.raises(AssertionError):
        check(created, path="/v1/webhook-endpoints/we_x")  # reading it never shows it
