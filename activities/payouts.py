"""Payout admission and bookkeeping, each step one SQL transaction.

Admission is serialized per tenant and currency by the merchant balance's ledger row:
``reserve_payout`` locks it together with the payout reserve's (``SELECT … FOR UPDATE`` in
ascending id, the ledger's lock order; SQLite's ``BEGIN IMMEDIATE`` takes the database's
write lock), reads the available balance, and only then stores the payout and reserves its
money. Two payouts can never both spend the same money, and a payout of "everything"
takes exactly what is there at that moment.
"""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import select
from temporalio import activity

from activities.admission import admitted_state
from activities.admission import rejected
from activities.ledger import LedgerBacked
from activities.ledger import account_ids
from schemas.domain import journals
from schemas.ledger import MERCHANT_BALANCE
from schemas.ledger import PAYOUT_RESERVE
from schemas.money import format_minor
from schemas.payouts import ConnectedAccount
from schemas.payouts import PayoutAdmission
from schemas.payouts import PayoutInput
from schemas.payouts import PayoutState
from schemas.payouts import RecordPayoutCommand
from schemas.store.read_model import PAYOUTS
from schemas.store.records import CONNECTED_ACCOUNTS
from schemas.store.tables import LedgerAccount


class PayoutActivities(LedgerBacked):
    @activity.defn
    def reserve_payout(self, payout: PayoutInput) -> PayoutAdmission:
        """Admit the payout and reserve its money, or raise ``Rejected`` (nothing written)."""
        with self._ledger.transaction() as transaction:
            connection = transaction.connection
            account = CONNECTED_ACCOUNTS.get(connection, payout.tenant_id, payout.account_id)
            if account is None:
                raise rejected("connected_account_not_found", "No such connected account")
            refused = account.payouts_refused()
            if refused is not None:
                raise rejected("payouts_not_enabled", refused)
            available = locked_available_balance(connection, payout.tenant_id, payout.currency)
            existing = PAYOUTS.get(connection, payout.tenant_id, payout.payout_id)
            if existing is not None:
                # A retry of an attempt that committed.
                return _admission(existing, account)
            amount = available if payout.amount is None else payout.amount
            if amount < payout.minimum_amount:
                raise rejected(
                    "below_minimum",
                    f"{format_minor(max(amount, 0), payout.currency)} available is below the "
                    f"minimum payout of {format_minor(payout.minimum_amount, payout.currency)}",
                )
            state = admitted_state(
                PayoutState, payout, datetime.now(UTC), amount=amount, provider=account.provider
            )
            PAYOUTS.upsert(connection, state)
            entry = journals.payout_reserve(
                payout.payout_id, account.provider, state.currency, amount
            )
            transaction.reserve(
                payout.tenant_id,
                entry,
                f"the merchant balance ({format_minor(max(available, 0), state.currency)} "
                f"available) cannot cover a payout of {format_minor(amount, state.currency)}",
            )
            return _admission(state, account)

    @activity.defn
    def record_payout(self, command: RecordPayoutCommand) -> None:
        """Store the payout's state and post its journal (the payout's row first)."""
        with self._ledger.transaction() as transaction:
            PAYOUTS.upsert(transaction.connection, command.state)
            transaction.post(command.state.tenant_id, command.journal)

    @activity.defn
    def release_payout_reservation(self, state: PayoutState) -> None:
        """Compensation: the reserved money is the merchant's again."""
        entry = journals.payout_release(
            state.payout_id, state.provider, state.currency, state.amount
        )
        self.record_payout(RecordPayoutCommand(state=state, journal=[entry]))


def _admission(state: PayoutState, account: ConnectedAccount) -> PayoutAdmission:
    return PayoutAdmission(
        state=state,
        bank_account=account.bank_account,
        provider_account=account.provider_account_id,
    )


def locked_available_balance(connection: Connection, tenant_id: str, currency: str) -> int:
    """The merchant balance's available money (it is credit-normal: available = -balance),
    its row and the payout reserve's locked until the transaction ends, in id order."""
    ids = account_ids(
        connection, tenant_id, [(MERCHANT_BALANCE, currency), (PAYOUT_RESERVE, currency)]
    )
    accounts = LedgerAccount.__table__
    rows = connection.execute(
        select(accounts.c.id, accounts.c.balance)
        .where(accounts.c.id.in_(ids.values()))
        .order_by(accounts.c.id)
        .with_for_update()
    ).all()
    balances = dict(rows)
    return -int(balances[ids[MERCHANT_BALANCE, currency]])
