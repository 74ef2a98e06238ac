"""Property-level safety (OWASP API3): no response carries a secret, a key hash or a card.

Every API client of the end-to-end tests runs ``assert_nothing_secret`` on every response
it receives, so the whole suite's traffic is scanned, not a sample.
"""

import json
import re

import httpx

API_KEY = re.compile(r"sk_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}")
KEY_HASH = re.compile(r"\$argon2(id|i|d)\$")
# 13 to 19 digits not inside a longer token (ids are letters and digits, amounts are shorter)
# nor the fraction of a decimal number (a risk rule's threshold echoed back).
CARD_LIKE = re.compile(r"(?<![0-9A-Za-z.])\d{13,19}(?![0-9A-Za-z])")
WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9+/]{43}=")
# Key creation and rotation show the new secret once, in the "secret" field, and only there;
# so do a webhook endpoint's creation and its secret's rotation.
SHOWS_SECRET = re.compile(r"^/v1/admin/tenants/[^/]+/keys(/[^/]+/rotate)?$")
SHOWS_WEBHOOK_SECRET = re.compile(r"^/v1/webhook-endpoints(/[^/]+/rotate-secret)?$")


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def secrets_in(text: str) -> list[str]:
    found = [f"API key {m[:8]}…" for m in API_KEY.findall(text)]
    found += ["Argon2 hash" for _ in KEY_HASH.finditer(text)]
    found += ["webhook signing secret" for _ in WEBHOOK_SECRET.finditer(text)]
    found += [f"card-like number {m[:4]}…" for m in CARD_LIKE.findall(text) if luhn_valid(m)]
    return found


def assert_nothing_secret(method: str, path: str, status: int, headers, body: str) -> None:
    if status == 201 and method == "POST" and SHOWS_SECRET.match(path):
        document = json.loads(body)
        assert API_KEY.fullmatch(document.pop("secret")), "the new key is shown once, whole"
        body = json.dumps(document)
    if method == "POST" and status in (200, 201) and SHOWS_WEBHOOK_SECRET.match(path):
        document = json.loads(body)
        assert WEBHOOK_SECRET.fullmatch(document.pop("secret")), "the new secret is shown once"
        body = json.dumps(document)
    header_text = "\n".join(f"{name}: {value}" for name, value in headers.items())
    found = secrets_in(body) + secrets_in(header_text)
    assert not found, f"{method} {path} answered {status} with {', '.join(found)}"


async def scan(response: httpx.Response) -> None:
    """An httpx response hook."""
    await response.aread()
    request = response.request
    assert_nothing_secret(
        request.method, request.url.path, response.status_code, response.headers, response.text
    )


RESPONSE_HOOKS = {"response": [scan]}
