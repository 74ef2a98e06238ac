"""Provider activities of the payout saga: every call carries an idempotency key derived
from the payout id (``{payout id}:{step}``), so a retry never moves money twice."""

from temporalio import activity

from activities.provider_calls import ProviderActivities
from schemas import steps
from schemas.provider import (
    PayoutCommand,
    PayoutResult,
    TransferCommand,
    TransferResult,
    TransferReversalCommand,
)


class PayoutProviderActivities(ProviderActivities):
    @activity.defn(name=steps.TRANSFER_TO_CONNECTED_ACCOUNT)
    async def transfer_to_connected_account(self, command: TransferCommand) -> TransferResult:
        return await self._provider(command.provider).transfer(command)

    @activity.defn(name=steps.PAY_OUT_TO_BANK)
    async def pay_out_to_bank(self, command: PayoutCommand) -> PayoutResult:
        return await self._provider(command.provider).payout(command)

    @activity.defn(name=steps.REVERSE_TRANSFER)
    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        return await self._provider(command.provider).reverse_transfer(command)
