"""Reconciliation: find what nobody knows the outcome of, ask the provider, and compare the
ledger with the provider's balance transactions day by day."""

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy import and_
from sqlalchemy import exists
from sqlalchemy import or_
from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.providers.base import PaymentProvider
from activities.reconciliation_match import Movement
from activities.reconciliation_match import compare
from schemas import errors
from schemas.identity import dispute_id
from schemas.payments import PaymentStatus
from schemas.provider import ProviderTransaction
from schemas.reconciliation import MARGIN
from schemas.reconciliation import PROVIDER_DISAGREES
from schemas.reconciliation import ChargeLookup
from schemas.reconciliation import FindUnresolvedCommand
from schemas.reconciliation import LookupCommand
from schemas.reconciliation import Mismatch
from schemas.reconciliation import PayoutLookup
from schemas.reconciliation import ReconciliationReport
from schemas.reconciliation import RefundLookup
from schemas.reconciliation import ReportCommand
from schemas.reconciliation import Unresolved
from schemas.reconciliation import day_window
from schemas.store.database import dialect_insert
from schemas.store.read_model import PAYMENTS
from schemas.store.read_model import PAYOUTS
from schemas.store.read_model import REFUNDS
from schemas.store.tables import DisputeRecord
from schemas.store.tables import JournalEntry
from schemas.store.tables import PaymentRecord
from schemas.store.tables import Posting
from schemas.store.tables import ReconciliationReportRecord
from schemas.store.tables import RefundRecord

# The same word for payments, refunds and payouts (their enums agree on it).
NEEDS_ATTENTION = PaymentStatus.REQUIRES_ATTENTION.value
# Entries that move an item of their source (a dispute, a refund) and the ones undoing them,
# as reconciliation's movements: (kind, sign). A withdrawal and its reinstatement, a refund
# and its late failure net out, as the provider's two balance transactions do.
SOURCE_ENTRIES = {
    "dispute_withdrawal": ("dispute", 1),
    "dispute_reinstatement": ("dispute", -1),
    "dispute_fee": ("dispute_fee", 1),
    "dispute_fee_return": ("dispute_fee", -1),
    "refund_reversal": ("refund", -1),
}

log = logging.getLogger(__name__)


class ReconciliationActivities:
    def __init__(self, engine: Engine, providers: Mapping[str, PaymentProvider]) -> None:
        self._engine = engine
        self._providers = providers

    @activity.defn
    def find_unresolved(self, command: FindUnresolvedCommand) -> Unresolved:
        """The oldest ``requires_attention`` payments, refunds and payouts (each up to limit)
        of the providers this worker can ask; the others wait for a worker that has theirs."""
        found = {}
        configured = list(self._providers)
        with self._engine.connect() as connection:
            for name, model in (("payments", PAYMENTS), ("refunds", REFUNDS), ("payouts", PAYOUTS)):
                columns = model.table.c
                waiting = [columns.status == NEEDS_ATTENTION, columns.provider.in_(configured)]
                if model is PAYMENTS:
                    # Left for an operator: asking again would find the same disagreement.
                    waiting.append(
                        or_(
                            columns.failure_code.is_(None),
                            columns.failure_code != PROVIDER_DISAGREES,
                        )
                    )
                rows = connection.execute(
                    select(columns.state_json)
                    .where(*waiting)
                    .order_by(columns.updated_at)
                    .limit(command.limit)
                ).scalars()
                found[name] = [model.state.model_validate_json(row) for row in rows]
        return Unresolved(**found)

    @activity.defn
    async def lookup_charge(self, command: LookupCommand) -> ChargeLookup:
        try:
            provider = self._providers[command.provider]
            charge = await provider.find_charge(command.id)
            if charge is None and command.reference:
                charge = await provider.retrieve(command.reference)
        except ApplicationError as e:
            if e.type != errors.DECLINED:
                raise
            return ChargeLookup(charge=None, declined=True)
        return ChargeLookup(charge=charge)

    @activity.defn
    async def lookup_refund(self, command: LookupCommand) -> RefundLookup:
        return RefundLookup(refund=await self._providers[command.provider].find_refund(command.id))

    @activity.defn
    async def lookup_payout(self, command: LookupCommand) -> PayoutLookup:
        provider = self._providers[command.provider]
        return PayoutLookup(
            transfer=await provider.find_transfer(command.id),
            payout=await provider.find_payout(command.id),
        )

    @activity.defn
    async def build_reconciliation_report(self, command: ReportCommand) -> ReconciliationReport:
        day_start, day_end = day_window(command.date)
        provider_side: list[ProviderTransaction] = []
        # The providers list the platform's whole day, every tenant's (their balance
        # transactions cannot be filtered by tenant): a tenant with nothing of its own in the
        # window has nothing there to compare, and asks no provider.
        active = await asyncio.to_thread(
            self._has_records, command.tenant_id, day_start - MARGIN, day_end + MARGIN
        )
        for name, provider in self._providers.items() if active else ():
            try:
                listed = await provider.list_transactions(day_start - MARGIN, day_end + MARGIN)
                provider_side += [_named_dispute(name, t) for t in listed]
            except ApplicationError as e:
                if e.type != errors.INVALID_REQUEST:
                    raise
                # PayPal lists no balance transactions here: its side is not compared.
                log.warning("reconciliation report: %s cannot list transactions: %s", name, e)
        report = await asyncio.to_thread(self._report, command, day_start, day_end, provider_side)
        return report

    def _has_records(self, tenant_id: str, start: datetime, end: datetime) -> bool:
        with self._engine.connect() as connection:
            return _has_records(connection, tenant_id, start, end)

    def _report(
        self,
        command: ReportCommand,
        day_start: datetime,
        day_end: datetime,
        transactions: list[ProviderTransaction],
    ) -> ReconciliationReport:
        with self._engine.begin() as connection:
            ledger = _ledger_movements(
                connection, command.tenant_id, day_start - MARGIN, day_end + MARGIN
            )
            ours = _payment_ids_of(
                connection, command.tenant_id, {t.payment_id for t in transactions if t.payment_id}
            )
            disputes = _dispute_ids_of(
                connection,
                command.tenant_id,
                {t.reference for t in transactions if t.type == "dispute" and t.reference},
            )
            provider = _provider_movements(
                [t for t in transactions if t.payment_id in ours or t.reference in disputes]
            )
            totals, mismatches = compare(ledger, provider, day_start, day_end)
            mismatches = _with_refusals(
                mismatches, _refused_captures(connection, command.tenant_id, day_start, day_end)
            )
            report = ReconciliationReport(
                tenant_id=command.tenant_id,
                date=command.date,
                generated_at=datetime.now(UTC),
                totals=totals,
                mismatches=mismatches,
            )
            _store(connection, report)
        return report


def _has_records(connection, tenant_id: str, start: datetime, end: datetime) -> bool:
    """Whether the tenant has a journal entry, payment, refund or dispute written or changed
    in [start, end)."""
    entries = JournalEntry.__table__
    checks = [
        exists().where(
            entries.c.tenant_id == tenant_id,
            entries.c.created_at >= start,
            entries.c.created_at < end,
        )
    ]
    for record in (PaymentRecord, RefundRecord, DisputeRecord):
        table = record.__table__
        checks.append(
            exists().where(
                table.c.tenant_id == tenant_id,
                or_(
                    and_(table.c.created_at >= start, table.c.created_at < end),
                    and_(table.c.updated_at >= start, table.c.updated_at < end),
                ),
            )
        )
    return any(connection.execute(select(check)).scalar() for check in checks)


def _refused_captures(connection, tenant_id: str, start: datetime, end: datetime) -> list[Mismatch]:
    """The tenant's payments whose capture reconciliation refused to book that day (the
    provider's amount or currency was not the payment's). Dated by the refusal, not the
    payment: a day's report that is final was built after every refusal of that day."""
    columns = PaymentRecord.__table__.c
    rows = connection.execute(
        select(columns.state_json).where(
            columns.tenant_id == tenant_id,
            columns.failure_code == PROVIDER_DISAGREES,
            columns.updated_at >= start,
            columns.updated_at < end,
        )
    ).scalars()
    refused = []
    for state in (PAYMENTS.state.model_validate_json(row) for row in rows):
        seen = state.provider_disagreement
        if seen is None:
            continue
        differs = seen.currency is not None and seen.currency != state.currency
        refused.append(
            Mismatch(
                kind="capture",
                id=state.payment_id,
                currency=state.currency,
                ledger_amount=None,
                provider_amount=seen.captured_amount,
                problem="provider_currency_differs" if differs else "provider_amount_differs",
                payment_amount=state.amount,
                provider_currency=seen.currency if differs else None,
            )
        )
    return refused


def _with_refusals(mismatches: list[Mismatch], refused: list[Mismatch]) -> list[Mismatch]:
    """A refused capture replaces the comparison's item for it (the provider's capture that
    the ledger lacks), which says less."""
    ids = {m.id for m in refused}
    kept = [m for m in mismatches if not (m.kind == "capture" and m.id in ids)]
    return kept + refused


def _ledger_movements(connection, tenant_id: str, start: datetime, end: datetime) -> list[Movement]:
    entries, postings = JournalEntry.__table__, Posting.__table__
    rows = connection.execute(
        select(
            entries.c.kind,
            entries.c.payment_id,
            entries.c.source_id,
            postings.c.currency,
            postings.c.amount,
            entries.c.created_at,
        )
        .join(postings, postings.c.entry_id == entries.c.id)
        .where(
            entries.c.tenant_id == tenant_id,
            entries.c.kind.in_(["capture", "fee", "refund", *SOURCE_ENTRIES]),
            entries.c.created_at >= start,
            entries.c.created_at < end,
            postings.c.amount > 0,  # an entry's amount is its debit leg
        )
    ).all()
    movements = []
    for kind, payment_id, source_id, currency, amount, created_at in rows:
        at = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        if kind in SOURCE_ENTRIES:
            movement, sign = SOURCE_ENTRIES[kind]
            movements.append(Movement(movement, source_id, currency, sign * amount, at))
            continue
        item = source_id if kind == "refund" else payment_id
        movements.append(Movement(kind, item, currency, amount, at))
    return movements


def _provider_movements(transactions: list[ProviderTransaction]) -> list[Movement]:
    movements: list[Movement] = []
    for t in transactions:
        if t.type == "charge":
            movements.append(Movement("capture", t.payment_id, t.currency, t.amount, t.created))
            if t.fee:
                movements.append(Movement("fee", t.payment_id, t.currency, t.fee, t.created))
        elif t.type == "refund" and t.reference:
            movements.append(Movement("refund", t.reference, t.currency, -t.amount, t.created))
        elif t.type == "refund":
            # A saga's compensation (not a refund of ours): it undoes part of the capture.
            movements.append(Movement("capture", t.payment_id, t.currency, t.amount, t.created))
        elif t.type == "refund_failure" and t.reference:
            # The refund's money back in the balance (positive): the refund, undone.
            movements.append(Movement("refund", t.reference, t.currency, -t.amount, t.created))
        elif t.type == "dispute":
            # Withdrawn from the balance (negative), or reinstated; the fee as charged.
            movements.append(Movement("dispute", t.reference, t.currency, -t.amount, t.created))
            if t.fee:
                movements.append(Movement("dispute_fee", t.reference, t.currency, t.fee, t.created))
    return movements


def _named_dispute(provider: str, transaction: ProviderTransaction) -> ProviderTransaction:
    """A dispute's balance transaction named by our dispute id (derived from the provider's)."""
    if transaction.type != "dispute":
        return transaction
    return transaction.model_copy(update={"reference": dispute_id(provider, transaction.source)})


def _dispute_ids_of(connection, tenant_id: str, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    return set(
        connection.execute(
            select(DisputeRecord.dispute_id).where(
                DisputeRecord.tenant_id == tenant_id, DisputeRecord.dispute_id.in_(sorted(ids))
            )
        ).scalars()
    )


def _payment_ids_of(connection, tenant_id: str, payment_ids: set[str]) -> set[str]:
    if not payment_ids:
        return set()
    found: set[str] = set()
    ids = sorted(payment_ids)
    for chunk in (ids[i : i + 500] for i in range(0, len(ids), 500)):
        found |= set(
            connection.execute(
                select(PaymentRecord.payment_id).where(
                    PaymentRecord.tenant_id == tenant_id, PaymentRecord.payment_id.in_(chunk)
                )
            ).scalars()
        )
    return found


def _store(connection, report: ReconciliationReport) -> None:
    row = {
        "tenant_id": report.tenant_id,
        "day": report.date.isoformat(),
        "generated_at": report.generated_at,
        "mismatches": len(report.mismatches),
        "report_json": report.model_dump_json(),
    }
    table = ReconciliationReportRecord.__table__
    statement = dialect_insert(connection.dialect.name, table).values(row)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "day"],
            set_={k: statement.excluded[k] for k in ("generated_at", "mismatches", "report_json")},
        )
    )
