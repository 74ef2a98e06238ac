"""Provider activities: every call carries an idempotency key from the payment's identity."""

from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from schemas import errors, steps
from schemas.provider import (
    AuthorizeCommand,
    ChargeCommand,
    ChargeResult,
    RefundCommand,
    RefundResult,
)


class ProviderActivities:
    def __init__(self, providers: Mapping[str, PaymentProvider]) -> None:
        self._providers = providers

    def _provider(self, name: str) -> PaymentProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise ApplicationError(
                f"provider {name!r} is not configured on this worker",
                type=errors.INVALID_REQUEST,
                non_retryable=True,
            ) from None

    @activity.defn(name=steps.AUTHORIZE_PAYMENT)
    async def authorize_payment(self, command: AuthorizeCommand) -> ChargeResult:
        return await self._provider(command.provider).authorize(command)

    @activity.defn(name=steps.CONFIRM_PAYMENT_ACTION)
    async def confirm_payment_action(self, command: ChargeCommand) -> ChargeResult:
        return await self._provider(command.provider).confirm_action(command)

    @activity.defn(name=steps.CAPTURE_PAYMENT)
    async def capture_payment(self, command: ChargeCommand) -> ChargeResult:
        return await self._provider(command.provider).capture(command)

    @activity.defn(name=steps.VOID_AUTHORIZATION)
    async def void_authorization(self, command: ChargeCommand) -> ChargeResult:
        return await self._provider(command.provider).void(command)

    @activity.defn(name=steps.REFUND_PAYMENT)
    async def refund_payment(self, command: ChargeCommand) -> ChargeResult:
        return await self._provider(command.provider).refund(command)

    @activity.defn(name=steps.CREATE_REFUND)
    async def create_refund(self, command: RefundCommand) -> RefundResult:
        return await self._provider(command.provider).create_refund(command)
