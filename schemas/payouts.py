"""Payout contracts: connected accounts, payouts (request, workflow input, state) and payout
schedules (the request and what the schedule reports)."""

from datetime import datetime
from datetime import timedelta
from enum import StrEnum
from typing import Annotated
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import HttpUrl
from pydantic import StringConstraints
from pydantic import field_validator

from schemas.card_data import free_text
from schemas.ledger import JournalEntryDraft
from schemas.money import AmountMinor
from schemas.money import CurrencyCode
from schemas.payments import ProviderName
from schemas.payments import StepRecord
from schemas.provider import PayoutMethod

# A provider bank-account token: an account number can never match it.
BankAccountToken = Annotated[
    str, StringConstraints(pattern=r"^ba_[A-Za-z0-9_]{1,64}$", max_length=67)
]
# Free text never carries a card number (schemas/card_data.py): refused, so never stored.
AccountName = free_text(200, min_length=1)
PayoutInterval = Literal["daily", "weekly", "monthly"]


# ------------------------------------------------------------------ connected accounts


class CreateConnectedAccountRequest(BaseModel):
    """Body of ``POST /v1/connected-accounts``."""

    model_config = ConfigDict(extra="forbid")

    name: AccountName
    bank_account: BankAccountToken = Field(
        description="The provider's bank-account token (`ba_…`), never an account number"
    )
    provider: ProviderName = "sandbox"


class ConnectedAccount(BaseModel):
    account_id: str
    tenant_id: str
    name: str
    provider: str
    bank_account: str
    created_at: datetime
    # The provider's id of the account; None for accounts made before the provider made them
    # (their own id was sent as the destination, as it still is).
    provider_account_id: str | None = None
    # As the provider last said (its account.updated webhook, or a refresh).
    charges_enabled: bool = False
    payouts_enabled: bool = True
    requirements_due: list[str] = Field(
        default_factory=list, description="What the provider still needs (currently due)"
    )
    disabled_reason: str | None = None

    @field_validator("requirements_due", mode="before")
    @classmethod
    def _nothing_due_before(cls, value: list[str] | None) -> list[str]:
        return value or []  # rows made before requirements were kept have none

    def payouts_refused(self) -> str | None:
        """Why the account cannot be paid out now (nothing may be reserved for it), or None."""
        if self.payouts_enabled:
            return None
        due = ", ".join(self.requirements_due) or "nothing listed"
        reason = f" ({self.disabled_reason})" if self.disabled_reason else ""
        return (
            f"{self.provider} has not enabled payouts for {self.account_id}{reason}; "
            f"due: {due}. Onboard it (POST …/onboarding-link) and try again."
        )


class OnboardingLinkRequest(BaseModel):
    """Body of ``POST /v1/connected-accounts/{id}/onboarding-link``."""

    model_config = ConfigDict(extra="forbid")

    refresh_url: HttpUrl = Field(description="Where the provider sends an expired link's user")
    return_url: HttpUrl = Field(description="Where the provider sends the user at the end")


class ConnectedAccountList(BaseModel):
    data: list[ConnectedAccount]


# ------------------------------------------------------------------------- payouts


class PayoutStatus(StrEnum):
    PENDING = "pending"  # admitted: the amount is reserved, the provider is being asked
    SUCCEEDED = "succeeded"  # paid out to the connected account's bank
    FAILED = "failed"  # the provider or bank refused; transfer reversed, reservation released
    REQUIRES_ATTENTION = "requires_attention"  # provider outcome unknown: reconciliation
    REJECTED = "rejected"  # not admitted (never stored: nothing changed)

    @property
    def is_final(self) -> bool:
        return self not in (PayoutStatus.PENDING, PayoutStatus.REQUIRES_ATTENTION)


class CreatePayoutRequest(BaseModel):
    """Body of ``POST /v1/payouts``."""

    model_config = ConfigDict(extra="forbid")

    connected_account: str = Field(
        max_length=40, description="A connected account id, `acct_…`", examples=["acct_…"]
    )
    amount: AmountMinor | None = Field(
        default=None, description="Minor units; the whole available balance if omitted"
    )
    currency: CurrencyCode
    method: PayoutMethod = Field(
        default="standard",
        description="`instant` arrives in minutes where the provider offers it for the "
        "account's bank account; refused (422) otherwise",
    )


class PayoutInput(BaseModel):
    payout_id: str
    tenant_id: str
    account_id: str
    amount: int | None = None  # None: the whole available merchant balance, under the lock
    minimum_amount: int = 1
    currency: str
    method: PayoutMethod = "standard"
    # How long a provider call retries before the payout is left to reconciliation.
    provider_deadline: timedelta = timedelta(minutes=10)


class PayoutState(BaseModel):
    """What the ``state`` query answers and the read model stores."""

    payout_id: str
    tenant_id: str
    account_id: str
    status: PayoutStatus = PayoutStatus.PENDING
    amount: int = 0
    currency: str
    provider: str = ""
    transfer_reference: str | None = None  # the provider's transfer to the connected account
    payout_reference: str | None = None  # the provider's payout to the bank
    method: PayoutMethod = "standard"
    arrival_date: datetime | None = None  # when the bank should have it, as the provider says
    failure_code: str | None = None
    failure_message: str | None = None
    # When the bank got the money, as the provider's ``payout.paid`` says (re-read there).
    arrived_at: datetime | None = None
    steps: list[StepRecord] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class PayoutAdmission(BaseModel):
    """What ``reserve_payout`` answers: the admitted payout, and where its money goes."""

    state: PayoutState
    bank_account: str
    # Where the provider's transfer and payout go: the provider's account id (None for an
    # account made before the provider made them: then our id, as before).
    provider_account: str | None = None


class PayoutList(BaseModel):
    data: list[PayoutState]


class RecordPayoutCommand(BaseModel):
    """Store a payout's new state and post its journal, in one SQL transaction."""

    state: PayoutState
    journal: list[JournalEntryDraft] = Field(default_factory=list)


# ----------------------------------------------------------------- payout schedules


class PayoutSchedule(BaseModel):
    """Body of ``PUT /v1/connected-accounts/{id}/payout-schedule``: pay the whole available
    balance in ``currency`` out to the account at 00:00 UTC every day, Monday or 1st."""

    model_config = ConfigDict(extra="forbid")

    interval: PayoutInterval
    minimum_amount: AmountMinor = Field(
        default=1, description="A run with less available than this is skipped"
    )
    currency: CurrencyCode


class ScheduledPayoutInput(BaseModel):
    """Input of ``ScheduledPayoutWorkflow``, set as the schedule's action."""

    tenant_id: str
    account_id: str
    interval: PayoutInterval
    minimum_amount: int
    currency: str


class ScheduledPayoutResult(BaseModel):
    payout_id: str
    outcome: Literal["paid", "skipped", "failed", "requires_attention", "rejected"]
    payout: PayoutState


class PauseScheduleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: free_text(200) | None = None


class ScheduledRun(BaseModel):
    scheduled_at: datetime
    started_at: datetime
    workflow_id: str
    payout_id: str  # the payout the run creates (derived from its workflow id)


class PayoutScheduleView(BaseModel):
    """A payout schedule as Temporal describes it."""

    schedule_id: str
    account_id: str
    interval: PayoutInterval
    minimum_amount: int
    currency: str
    paused: bool
    note: str | None = None
    next_run_at: list[datetime] = Field(description="The next scheduled runs (up to 10)")
    recent_runs: list[ScheduledRun] = Field(description="The latest runs, oldest first")
    created_at: datetime
    updated_at: datetime | None = None
