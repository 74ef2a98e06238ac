"""Disputes: read the provider's dispute, mirror it in the read model and book the money it
moved, in one SQL transaction; send evidence or the merchant's acceptance to the provider.

A webhook is only a hint: ``sync_dispute`` always reads the dispute again, and books each of
its balance movements under a key of its own (``{dispute id}:{step}``), so an event that
arrives twice, late or out of order books nothing twice.
"""

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ledger import LedgerBacked
from activities.ledger import LedgerTransaction
from activities.ledger import account_ids
from activities.ledger import post_entries
from activities.providers.base import DisputeProvider
from activities.providers.base import PaymentProvider
from activities.providers.errors import invalid_request
from schemas import errors
from schemas.disputes import DisputeActionCommand
from schemas.disputes import DisputeInput
from schemas.disputes import DisputeState
from schemas.disputes import ProviderDispute
from schemas.disputes import SyncDisputeCommand
from schemas.domain import journals
from schemas.ledger import JournalEntryDraft
from schemas.store.read_model import DISPUTES

log = logging.getLogger(__name__)


class DisputeActivities(LedgerBacked):
    def __init__(self, engine: Engine, providers: Mapping[str, PaymentProvider]) -> None:
        super().__init__(engine)
        self._providers = providers

    @activity.defn
    async def sync_dispute(self, command: SyncDisputeCommand) -> DisputeState:
        dispute = command.dispute
        found = await self._provider(dispute.provider).retrieve_dispute(dispute.provider_reference)
        return await asyncio.to_thread(self._record, dispute, found)

    @activity.defn
    async def submit_dispute_evidence(self, command: DisputeActionCommand) -> ProviderDispute:
        return await self._provider(command.provider).submit_dispute_evidence(command)

    @activity.defn
    async def accept_dispute(self, command: DisputeActionCommand) -> ProviderDispute:
        return await self._provider(command.provider).accept_dispute(command)

    def _provider(self, name: str) -> DisputeProvider:
        provider = self._providers.get(name)
        if not isinstance(provider, DisputeProvider):
            raise invalid_request(f"{name} disputes are not read by paysaga")
        return provider

    def _record(self, dispute: DisputeInput, found: ProviderDispute) -> DisputeState:
        now = datetime.now(UTC)
        journal = [
            entry
            for funds in found.funds
            for entry in journals.dispute_funds(
                dispute.dispute_id, dispute.provider, funds.currency, funds.amount, funds.fee
            )
        ]
        with self._ledger.transaction() as transaction:
            connection = transaction.connection
            # The dispute's row first (locked), then the ledger's accounts: the lock order.
            stored = DISPUTES.get(connection, dispute.tenant_id, dispute.dispute_id, lock=True)
            state = DisputeState(
                **dispute.model_dump(),
                amount=found.amount,
                currency=found.currency,
                reason=found.reason,
                status=found.status,
                evidence_due_by=found.evidence_due_by,
                evidence_submissions=found.evidence_submissions,
                funds_withdrawn=-sum(f.amount for f in found.funds if f.amount < 0),
                funds_reinstated=sum(f.amount for f in found.funds if f.amount > 0),
                fee=sum(f.fee for f in found.funds),
                created_at=stored.created_at if stored else now,
                updated_at=now,
            )
            state.ledger_shortfall = _book(transaction, dispute, journal)
            DISPUTES.upsert(connection, state)
        return state


def _book(
    transaction: LedgerTransaction, dispute: DisputeInput, journal: list[JournalEntryDraft]
) -> int:
    """Post the dispute's entries: 0, or what the merchant balance lacks for a withdrawal.

    The provider takes a chargeback whatever the balance holds, but the merchant balance may
    never go into debit: such a withdrawal is left unbooked (a savepoint undoes it) rather
    than failing the dispute, and an operator sees it in the dispute and in reconciliation.
    """
    connection = transaction.connection
    needed = {(line.account, line.currency) for entry in journal for line in entry.lines}
    # Created outside the savepoint, so no account id of a rolled-back savepoint is cached.
    accounts = account_ids(connection, dispute.tenant_id, needed)
    try:
        with connection.begin_nested():
            post_entries(connection, dispute.tenant_id, journal, dispute.payment_id, accounts)
    except ApplicationError as e:
        if e.type != errors.INSUFFICIENT_BALANCE:
            raise
        shortfall = int(e.details[0]["shortfall"]) if e.details else 0
        log.warning("dispute %s: merchant balance short by %s", dispute.dispute_id, shortfall)
        return shortfall
    return 0
