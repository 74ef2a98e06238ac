"""The API asking a provider directly (no saga: nothing moves money), and what its answers
mean to the client: a refusal is the client's 422, silence a 503 to retry."""

from collections.abc import Awaitable
from typing import TypeVar

from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from api.problems import Problem
from schemas import errors

Answer = TypeVar("Answer")


def adapter_of(providers: dict[str, PaymentProvider], provider: str) -> PaymentProvider:
    adapter = providers.get(provider)
    if adapter is None:
        raise Problem("provider_not_configured", f"{provider} is not configured here")
    return adapter


async def provider_answer(call: Awaitable[Answer], refused: str = "provider_refused") -> Answer:
    """The provider's answer; its refusal is the problem ``refused`` (422), its silence a
    503 ``provider_unavailable``."""
    try:
        return await call
    except ApplicationError as failed:
        if failed.type in (errors.INVALID_REQUEST, errors.DECLINED):
            raise Problem(refused, failed.message) from None
        raise Problem("provider_unavailable", failed.message) from None
