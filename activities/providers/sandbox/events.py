"""Webhooks of the sandbox gateway: there are none. It answers every call synchronously, so
no event can be genuine and every delivery is refused (the API answers 400)."""

from collections.abc import Mapping
from typing import NoReturn

from schemas.provider_events import WebhookSignatureError


def verified_event(headers: Mapping[str, str], body: bytes) -> NoReturn:
    raise WebhookSignatureError("the sandbox gateway sends no webhooks")
