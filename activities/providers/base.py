"""The interface every payment provider adapter implements (DESIGN §6).

Failures are raised as ``temporalio.exceptions.ApplicationError`` with a ``type`` from
``schemas.errors``: ``Declined`` and ``InvalidRequest`` are final, ``Unavailable`` and
``OutcomeUnknown`` are retried with the same idempotency key.
"""

from typing import Protocol, runtime_checkable

from schemas.provider import AuthorizeCommand, ChargeCommand, ChargeResult


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

    async def aclose(self) -> None: ...
