"""Masking card data and secrets out of log lines, whichever library wrote them.

Applied to the fully formatted message, tracebacks and string fields of every record our
handler writes (PCI DSS 3.3-3.5: no PAN or CVV in logs; no credentials either): card-like
numbers, CVV/CVC fields, API keys and webhook secrets by their well-known prefixes, bearer
and basic credentials, ``password=``-style fields, passwords in URLs, and the literal
secrets this process is configured with.
"""

import logging
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from schemas.card_data import mask_card_numbers
from schemas.runtime.settings import Settings

MASK = "[REDACTED]"
# A configured secret shorter than this is not masked literally: masking a word that short
# would rewrite ordinary text all over the logs (placeholders are refused by the settings).
MIN_LITERAL_SECRET = 6

# A field name starts a word, or follows "[" also when URL-encoded (card%5Bcvc%5D=123).
_NAME_START = r"(?:(?<![A-Za-z0-9])|(?<=%5B)|(?<=%5b))"
# ``name=``, ``name: ``, ``"name": ``, ``'name': b'``, ``name]=`` and their URL encodings.
_ASSIGN = r"""(?:\]|%5D|%5d)?\\?["']?\s*(?:[:=]|%3[AaDd])\s*(?:b(?=["']))?"""
# A quoted value whole (spaces included), else up to a delimiter.
_VALUE = r"""(?P<value>\\"[^"\\]*\\"|"[^"]*"|'[^']*'|[^\s"'&,;})\]\\]+)"""

_CARD_VERIFICATION = (
    r"cvv2?|cvc2?|cvn|csc|security[_ -]?code|card[_ -]?verification(?:[_ -]?(?:value|code))?"
)
_CREDENTIAL_NAMES = (
    r"password|passwd|passphrase|secret|client[_-]?secret|secret[_-]?key|api[_-]?key|apikey"
    r"|access[_-]?token|refresh[_-]?token|id[_-]?token|auth[_-]?token|codec[_-]?token"
    r"|admin[_-]?key|private[_-]?key|webhook[_-]?secret"
)
_FIELD = re.compile(
    rf"{_NAME_START}(?P<name>(?:{_CARD_VERIFICATION}|{_CREDENTIAL_NAMES}){_ASSIGN}){_VALUE}",
    re.IGNORECASE,
)
_AUTHORIZATION = re.compile(
    rf"(?P<name>\b(?:proxy-)?authorization{_ASSIGN})(?:[A-Za-z]+\s+)?{_VALUE}", re.IGNORECASE
)
_SCHEME_TOKEN = re.compile(
    r"\b(?P<scheme>Bearer\s+)[A-Za-z0-9._~+/=-]{4,}|\b(?P<basic>Basic\s+)[A-Za-z0-9+/=]{8,}"
)
# Stripe secret and restricted keys (sk_live_, rk_test_), our tenants' keys
# (sk_<12 hex>_…), webhook signing secrets (whsec_): the prefix stays, to tell them apart.
_PREFIXED_KEY = re.compile(
    r"\b(?P<prefix>(?:sk|rk)_(?:live_|test_|[0-9a-f]{12}_)?|whsec_)[A-Za-z0-9+/=_-]{4,}"
)
_URL_PASSWORD = re.compile(r"(?P<user>\b[a-z][a-z0-9+.-]*://[^:/\s@]+:)[^@\s/]+(?=@)")


_CREDENTIAL_KEY = re.compile(
    rf"(?:.*[^A-Za-z0-9])?(?:{_CARD_VERIFICATION}|{_CREDENTIAL_NAMES}|authorization|cookie)",
    re.IGNORECASE,
)


def _is_credential_key(key: Any) -> bool:
    """A dict key such as ``cvc``, ``api_key`` or ``stripe_webhook_secret``."""
    return isinstance(key, str) and _CREDENTIAL_KEY.fullmatch(key) is not None


def _masked_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[:2] if value.startswith('\\"') else value[:1]
    kept = quote if quote in ('"', "'", '\\"') else ""
    return f"{match.group('name')}{kept}{MASK}{kept}"


class Redactor:
    """``redactor(text)``: ``text`` with card data and secrets masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        literal = sorted(
            {s for s in secrets if len(s) >= MIN_LITERAL_SECRET}, key=len, reverse=True
        )
        self._literal = re.compile("|".join(map(re.escape, literal))) if literal else None

    def __call__(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(MASK, text)
        text = _URL_PASSWORD.sub(rf"\g<user>{MASK}", text)
        text = _PREFIXED_KEY.sub(rf"\g<prefix>{MASK}", text)
        text = _AUTHORIZATION.sub(_masked_value, text)
        text = _SCHEME_TOKEN.sub(lambda m: f"{m.group('scheme') or m.group('basic')}{MASK}", text)
        text = _FIELD.sub(_masked_value, text)
        return mask_card_numbers(text)


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret in ``settings``, to be masked wherever it shows up."""
    return [secret for _, secret in settings.secrets()]


# What every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactionFilter(logging.Filter):
    """Masks the record in place before any of our formatters sees it: the message is
    formatted once here, so its arguments (a library's request dump) are masked too."""

    def __init__(self, redact: Callable[[str], str], skip: Iterable[str] = ()) -> None:
        super().__init__()
        self._redact = redact
        self._skip = _STANDARD_ATTRIBUTES | frozenset(skip)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a caller's bad format arguments must not break its code path
            message = f"{record.msg!r} (arguments that do not fit: {record.args!r})"
        record.msg, record.args = self._redact(message), None
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self._redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in self._skip:
                record.__dict__[name] = self._redacted(value)
        return True

    def _redacted(self, value: Any) -> Any:
        # New containers: an extra may be shared (Temporal caches its logger details).
        if isinstance(value, str):
            return self._redact(value)
        if isinstance(value, Mapping):
            return {
                key: MASK if _is_credential_key(key) else self._redacted(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._redacted(item) for item in value]
        return value
