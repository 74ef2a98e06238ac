"""The interface every payment provider adapter implements (DESIGN §6).

Failures are raised as ``temporalio.exceptions.ApplicationError`` with a ``type`` from
``schemas.errors``: ``Declined`` and ``InvalidRequest`` are final, ``Unavailable`` and
``OutcomeUnknown`` are retried with the same idempotency key.
"""

from datetime import datetime
from typing import Protocol, runtime_checkable

from schemas.provider import (
    AuthorizeCommand,
    ChargeCommand,
    ChargeResult,
    PayoutCommand,
    PayoutResult,
    ProviderTransaction,
    RefundCommand,
    RefundResult,
    TransferCommand,
    TransferResult,
    TransferReversalCommand,
)


@runtime_checkable
class PaymentProvider(Protocol):
    async def authorize(self, command: AuthorizeCommand) -> ChargeResult:
        """Place a hold (or authorize and capture in one call when ``command.capture``)."""
        ...

    async def capture(self, command: ChargeCommand) -> ChargeResult:
        """Capture ``command.amount`` of the hold (``None``: all of it)."""
        ...

    async def void(self, command: ChargeCommand) -> ChargeResult:
        """Release a hold that was not captured."""
        ...

    async def refund(self, command: ChargeCommand) -> ChargeResult:
        """Give back ``command.amount`` of what was captured (``None``: the rest)."""
        ...

    async def confirm_action(self, command: ChargeCommand) -> ChargeResult:
        """Finish authorization after the customer's action; ``requires_action`` while pending."""
        ...

    async def retrieve(self, reference: str) -> ChargeResult:
        """The provider's current view of a charge (for reconciliation)."""
        ...

    async def find_charge(self, payment_id: str) -> ChargeResult | None:
        """The charge created for our payment (by ``reference``), or None if there is none."""
        ...

    async def create_refund(self, command: RefundCommand) -> RefundResult:
        """Refund part of a captured charge as a refund object (``failed``: the card refused)."""
        ...

    async def find_refund(self, refund_id: str) -> RefundResult | None:
        """The refund created for our refund id (by ``reference``), or None."""
        ...

    async def transfer(self, command: TransferCommand) -> TransferResult:
        """Move money from the platform balance to a connected account's balance."""
        ...

    async def reverse_transfer(self, command: TransferReversalCommand) -> TransferResult:
        """Take a transfer back to the platform balance (a payout compensation)."""
        ...

    async def payout(self, command: PayoutCommand) -> PayoutResult:
        """Pay a connected account's balance out to its bank (``failed``: the bank refused)."""
        ...

    async def find_transfer(self, payout_id: str) -> TransferResult | None: ...

    async def find_payout(self, payout_id: str) -> PayoutResult | None: ...

    async def list_transactions(
        self, created_from: datetime, created_before: datetime
    ) -> list[ProviderTransaction]:
        """Every balance movement created in [from, before), oldest first (all pages)."""
        ...

    async def aclose(self) -> None: ...
