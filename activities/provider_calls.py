"""Provider activities: every call carries an idempotency key from its saga's identity
(``{payment id}:{step}``, ``{refund id}:refund``, ``{payout id}:{step}``), so a retry after an
unknown outcome never moves money twice.

Every call, payments' and payouts' alike, goes through the provider's circuit breaker
(shared by every worker): an open circuit answers ``Unavailable`` without calling, and every
answer tells the breaker whether the provider is up (an answer, even a decline) or not
(unavailable, unknown outcome). Every error is counted in ``paysaga_provider_errors``.
"""

import asyncio
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from activities.circuit_breaker import CircuitBreaker
from activities.circuit_breaker import is_provider_failure
from activities.circuit_breaker import refusal_error
from activities.providers.base import PaymentProvider
from activities.providers.base import SavesPaymentMethods
from activities.providers.base import SetsUpPaymentMethods
from activities.providers.errors import RateLimited
from schemas import errors
from schemas.customers import CancelSetupCommand
from schemas.customers import DefaultMethodCommand
from schemas.customers import SetupCommand
from schemas.customers import SetupReference
from schemas.customers import SetupResult
from schemas.provider import AuthorizeCommand
from schemas.provider import ChargeCommand
from schemas.provider import ChargeResult
from schemas.provider import PayoutCommand
from schemas.provider import PayoutResult
from schemas.provider import RefundCommand
from schemas.provider import RefundResult
from schemas.provider import TransferCommand
from schemas.provider import TransferResult
from schemas.provider import TransferReversalCommand

T = TypeVar("T")


class ProviderActivities:
    def __init__(
        self, providers: Mapping[str, PaymentProvider], breaker: CircuitBreaker | None = None
    ) -> None:
        self._providers = providers
        self._breaker = breaker

    def _provider(self, name: str) -> PaymentProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise ApplicationError(
                f"provider {name!r} is not configured on this worker",
                type=errors.INVALID_REQUEST,
                non_retryable=True,
            ) from None

    async def _call(self, name: str, call: Callable[[PaymentProvider], Awaitable[T]]) -> T:
        provider = self._provider(name)
        if self._breaker is not None:
            admission = self._breaker.cached_admission(name)
            if admission is None:
                admission = await asyncio.to_thread(self._breaker.admit, name)
            if not admission.admitted:
                raise refusal_error(name, admission)  # not a failure of the provider's
        try:
            result = await call(provider)
        except ApplicationError as failure:
            metrics.provider_error(name, failure.type)
            await self._report(name, failure)
            raise
        await self._report(name)
        return result

    async def _report(self, name: str, failure: ApplicationError | None = None) -> None:
        """Tell the breaker whether the provider is up: any answer, even a decline, is."""
        if self._breaker is None:
            return
        # A 429 is the provider pacing us, not failing: it neither counts against the
        # circuit all tenants share nor proves the provider healthy.
        if isinstance(failure, RateLimited):
            return
        if failure is not None and is_provider_failure(failure):
            await asyncio.to_thread(self._breaker.record_failure, name, failure.message)
        elif not self._breaker.success_is_known(name):
            await asyncio.to_thread(self._breaker.record_success, name)

    # Payments and refunds.

    @activity.defn
    async def authorize_payment(self, command: AuthorizeCommand) -> ChargeResult:
        try:
            return await self._call(command.provider, lambda p: p.authorize(command))
        except ApplicationError as failure:
            # On the first attempt Unavailable proves nothing was applied: final, so the saga
            # fails over at once. A later attempt may follow an unknown outcome, so it keeps
            # retrying here with the same key instead.
            first_attempt = activity.info().attempt == 1
            if command.may_fail_over and first_attempt and failure.type == errors.UNAVAILABLE:
                raise ApplicationError(
                    failure.message, type=errors.UNAVAILABLE, non_retryable=True
                ) from failure
            raise

    @activity.defn
    async def confirm_payment_action(self, command: ChargeCommand) -> ChargeResult:
        return await self._call(command.provider, lambda p: p.confirm_action(command))

    @activity.defn
    async def capture_payment(self, command: ChargeCommand) -> ChargeResult:
        return await self._call(command.provider, lambda p: p.capture(command))

    @activity.defn
    async def void_authorization(self, command: ChargeCommand) -> ChargeResult:
        return await self._call(command.provider, lambda p: p.void(command))

    @activity.defn
    async def refund_payment(self, command: ChargeCommand) -> ChargeResult:
        return await self._call(command.provider, lambda p: p.refund(command))

    @activity.defn
    async def create_refund(self, command: RefundCommand) -> RefundResult:
        return await self._call(command.provider, lambda p: p.create_refund(command))

    # Saving a payment method through the provider's setup flow.

    @activity.defn
    async def set_up_payment_method(self, command: SetupCommand) -> SetupResult:
        return await self._call(command.provider, lambda p: _setting_up(p).set_up_method(command))

    @activity.defn
    async def cancel_payment_method_setup(self, command: CancelSetupCommand) -> SetupResult | None:
        return await self._call(command.provider, lambda p: _setting_up(p).cancel_setup(command))

    @activity.defn
    async def check_payment_method_setup(self, setup: SetupReference) -> SetupResult:
        return await self._call(
            setup.provider, lambda p: _setting_up(p).retrieve_setup(setup.reference)
        )

    @activity.defn
    async def make_default_payment_method(self, command: DefaultMethodCommand) -> None:
        await self._call(
            command.provider,
            lambda p: _saving(p).set_default_method(
                command.customer_reference, command.method_reference
            ),
        )

    # Payouts.

    @activity.defn
    async def transfer_to_connected_account(self, command: TransferCommand) -> TransferResult:
        return await self._call(command.provider, lambda p: p.transfer(command))

    @activity.defn
    async def pay_out_to_bank(self, command: PayoutCommand) -> PayoutResult:
        return await self._call(command.provider, lambda p: p.payout(command))

    @activity.defn
    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        return await self._call(command.provider, lambda p: p.reverse_transfer(command))


def _setting_up(provider: PaymentProvider) -> SetsUpPaymentMethods:
    if not isinstance(provider, SetsUpPaymentMethods):
        raise ApplicationError(
            "this provider has no setup flow", type=errors.INVALID_REQUEST, non_retryable=True
        )
    return provider


def _saving(provider: PaymentProvider) -> SavesPaymentMethods:
    if not isinstance(provider, SavesPaymentMethods):
        raise ApplicationError(
            "this provider keeps no saved methods",
            type=errors.INVALID_REQUEST,
            non_retryable=True,
        )
    return provider
