"""What every payment provider adapter is: the ``PaymentProvider`` protocol, and the small
pieces all of them use (``ClosedOnExit``, ``describe``, ``masked``, ``url_path``).

Failures are raised as ``temporalio.exceptions.ApplicationError`` with a ``type`` from
``schemas.errors`` (built by ``activities.providers.errors``): ``Declined`` and
``InvalidRequest`` are final, ``Unavailable`` and ``OutcomeUnknown`` are retried with the same
idempotency key.
"""

from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any
from typing import Protocol
from typing import Self
from typing import runtime_checkable
from urllib.parse import quote

from schemas.customers import AttachMethodCommand
from schemas.customers import CancelSetupCommand
from schemas.customers import ProviderCard
from schemas.customers import SaveCustomerCommand
from schemas.customers import SetupCommand
from schemas.customers import SetupResult
from schemas.disputes import DisputeActionCommand
from schemas.disputes import ProviderDispute
from schemas.provider import AccountCommand
from schemas.provider import AuthorizeCommand
from schemas.provider import ChargeCommand
from schemas.provider import ChargeResult
from schemas.provider import CustomerAction
from schemas.provider import OnboardingLink
from schemas.provider import OnboardingLinkCommand
from schemas.provider import PayoutCommand
from schemas.provider import PayoutResult
from schemas.provider import ProviderAccount
from schemas.provider import ProviderTransaction
from schemas.provider import RefundCommand
from schemas.provider import RefundResult
from schemas.provider import TransferCommand
from schemas.provider import TransferResult
from schemas.provider import TransferReversalCommand
from schemas.provider_events import ProviderEvent


@runtime_checkable
class SavesPaymentMethods(Protocol):
    """A provider that keeps customers and their payment methods for charges made later,
    off-session (Stripe; the sandbox). PayPal's vault is not used."""

    async def save_customer(self, command: SaveCustomerCommand) -> str:
        """The provider's id of a new mirror of our customer."""
        ...

    async def attach_method(self, command: AttachMethodCommand) -> ProviderCard:
        """Attach a token to the provider's customer; what the provider says of the card."""
        ...

    async def detach_method(self, reference: str) -> None: ...

    async def set_default_method(self, customer_reference: str, method_reference: str) -> None:
        """The method the provider's own invoices charge by default."""
        ...


@runtime_checkable
class SetsUpPaymentMethods(Protocol):
    """A provider whose setup flow saves a card for off-session use, asking the customer to
    authenticate when the card needs it (Stripe's SetupIntent)."""

    async def set_up_method(self, command: SetupCommand) -> SetupResult:
        """Start and confirm the setup: ``requires_action`` until the customer acts."""
        ...

    async def cancel_setup(self, command: CancelSetupCommand) -> SetupResult | None:
        """Cancel a setup the customer abandoned, so it can no longer attach the method:
        None once canceled; the setup as it is when it succeeded before it could be."""
        ...

    async def retrieve_setup(self, reference: str) -> SetupResult:
        """The setup now; a refused or abandoned one raises ``Declined``."""
        ...

    async def setup_action(self, reference: str) -> CustomerAction | None:
        """What the customer's client needs to finish the setup (Stripe.js: its secret)."""
        ...


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

    async def customer_action(self, reference: str) -> CustomerAction | None:
        """What the customer's client needs to finish the charge's pending action; None when
        none is pending."""
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

    async def create_account(self, command: AccountCommand) -> ProviderAccount:
        """Create a connected account payouts can go to; it may have to onboard first."""
        ...

    async def retrieve_account(self, reference: str) -> ProviderAccount:
        """The account's standing now: may it be paid out, what is still due."""
        ...

    async def onboarding_link(self, command: OnboardingLinkCommand) -> OnboardingLink:
        """A single-use page where the account holder onboards at the provider."""
        ...

    async def find_transfer(self, payout_id: str) -> TransferResult | None: ...

    async def find_payout(self, payout_id: str) -> PayoutResult | None: ...

    async def list_transactions(
        self, created_from: datetime, created_before: datetime
    ) -> list[ProviderTransaction]:
        """Every balance movement created in [from, before), oldest first (all pages)."""
        ...

    async def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """The event of a genuine, fresh webhook request (signature checked on the raw
        body); raises ``WebhookSignatureError`` otherwise."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class DisputeProvider(Protocol):
    """A provider whose disputes paysaga reads and answers (not every provider has them)."""

    async def retrieve_dispute(self, reference: str) -> ProviderDispute:
        """The provider's dispute now, with the balance movements it made."""
        ...

    async def submit_dispute_evidence(self, command: DisputeActionCommand) -> ProviderDispute:
        """Send ``command.evidence`` (and submit it when it says so); refused once closed."""
        ...

    async def accept_dispute(self, command: DisputeActionCommand) -> ProviderDispute:
        """Concede the dispute: it closes as lost; refused once closed."""
        ...


class ClosedOnExit:
    """``async with adapter:`` closes its HTTP clients (``aclose``) on the way out."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def saved_card(method: dict[str, Any]) -> ProviderCard:
    """What a provider says of a saved card, in Stripe's PaymentMethod shape (the sandbox
    gateway answers in it too); the number stays at the provider."""
    card = method.get("card") or {}
    return ProviderCard(
        reference=method["id"],
        brand=card.get("brand"),
        last4=card.get("last4"),
        exp_month=card.get("exp_month"),
        exp_year=card.get("exp_year"),
        fingerprint=card.get("fingerprint"),
    )


def redirect_action(charge: ChargeResult) -> CustomerAction | None:
    """The action of a provider whose customer finishes at a page (``next_action_url``)."""
    if charge.status != "requires_action" or not charge.next_action_url:
        return None
    return CustomerAction(type="redirect_to_url", url=charge.next_action_url)


def masked(token: str) -> str:
    """What a log line may show of a payment method or bank account token."""
    return token[:8] + "…" if len(token) > 8 else token


MoneyCommand = (
    AuthorizeCommand | RefundCommand | TransferCommand | TransferReversalCommand | PayoutCommand
)


def describe(command: MoneyCommand) -> str:
    """A command as an adapter's log line names it: our ids, the amount and where it goes; a
    payment method or bank account only ``masked``."""
    money = f"{command.amount} {command.currency}"
    match command:
        case AuthorizeCommand():
            method = masked(command.payment_method)
            return f"{command.payment_id}: {money} with {method} (capture={command.capture})"
        case RefundCommand():
            ours = f"{command.refund_id} of {command.payment_id}"
            return f"{ours}: {money} of {command.charge_reference}"
        case TransferCommand():
            return f"{command.payout_id}: {money} to {command.destination}"
        case TransferReversalCommand():
            return f"{command.transfer_reference} of {command.payout_id}: {money}"
        case PayoutCommand():
            bank = masked(command.bank_account)
            return f"{command.payout_id}: {money} from {command.destination} to {bank}"


def url_path(*parts: str) -> str:
    """``/a/b/...`` with every segment escaped, so an id can never change the path:
    ``url_path("v1", "charges", reference, "capture")``."""
    return "/" + "/".join(quote(part, safe="") for part in parts)
