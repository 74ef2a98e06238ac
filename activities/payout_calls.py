"""Provider activities of the payout saga: every call carries an idempotency key derived
from the payout id (``{payout id}:{step}``), so a retry never moves money twice."""

from temporalio import activity

from activities.provider_calls import ProviderActivities
from schemas.provider import (
    PayoutCommand,
    PayoutResult,
    TransferCommand,
    TransferResult,
    TransferReversalCommand,
)


class PayoutProviderActivities(ProviderActivities):
    @activity.defn
    async def transfer_to_connected_account(self, command: TransferCommand) -> TransferResult:
        return await self._provider(command.provider).transfer(command)

    @activity.defn
    async def pay_out_to_bank(self, command: PayoutCommand) -> PayoutResult:
        return await self._provider(command.provider).payout(command)

    @activity.defn
    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        return await self._provider(command.provider).reverse_transfer(command)
