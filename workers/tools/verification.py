"""After a bench or chaos run: prove no payment was lost, charged twice or booked wrong.

The checks compare three independent records of each payment: the workflow (Temporal),
the processor (the sandbox gateway's per-reference charge counts) and our SQL (read model
and ledger).
"""

import asyncio
from collections import Counter
from dataclasses import dataclass
from dataclasses import field

import httpx
from sqlalchemy import Engine
from sqlalchemy import func
from sqlmodel import Session
from sqlmodel import select
from temporalio.client import Client
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from schemas.identity import payment_workflow_id
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.store.ledger_reports import empty_entries
from schemas.store.ledger_reports import unbalanced_entries
from schemas.store.tables import JournalEntry
from schemas.store.tables import PaymentRecord
from schemas.store.tables import Posting
from workflows.payment.workflow import PaymentWorkflow


@dataclass
class Verification:
    payments: int = 0
    statuses: Counter = field(default_factory=Counter)
    not_final: list[str] = field(default_factory=list)
    duplicate_charges: dict[str, int] = field(default_factory=dict)
    ledger_violations: list[str] = field(default_factory=list)
    ledger_mismatches: list[str] = field(default_factory=list)
    read_model_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (
            self.not_final
            or self.duplicate_charges
            or self.ledger_violations
            or self.ledger_mismatches
            or self.read_model_mismatches
        )

    def problems(self) -> list[str]:
        found = [f"not final: {pid}" for pid in self.not_final]
        found += [f"charged {n}x: {pid}" for pid, n in self.duplicate_charges.items()]
        found += [f"ledger: {v}" for v in self.ledger_violations + self.ledger_mismatches]
        found += [f"read model: {m}" for m in self.read_model_mismatches]
        return found

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "payments": self.payments,
            "statuses": dict(self.statuses),
            "not_final": self.not_final,
            "duplicate_charges": self.duplicate_charges,
            "ledger_violations": self.ledger_violations,
            "ledger_mismatches": self.ledger_mismatches,
            "read_model_mismatches": self.read_model_mismatches,
        }


async def verify_payments(
    payment_ids: list[str],
    *,
    client: Client,
    gateway_url: str,
    engine: Engine,
    tenant_id: str,
    settle_seconds: float = 60.0,
    gateway_headers: dict[str, str] | None = None,
) -> Verification:
    """Wait up to ``settle_seconds`` for every workflow to close, then cross-check.
    ``gateway_headers``: the gateway's credential (``EmbeddedStack.gateway_headers``)."""
    result = Verification(payments=len(payment_ids))
    states = await _final_states(client, tenant_id, payment_ids, settle_seconds)
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=30, headers=gateway_headers
    ) as gateway:
        charges = (await gateway.get("/v1/stats")).json()["charges_by_reference"]
    with Session(engine) as session:
        result.ledger_violations = [
            f"entry {v.entry_idempotency_key} sums to {v.total} {v.currency}"
            for v in unbalanced_entries(session)
        ] + [f"entry {key} has fewer than two postings" for key in empty_entries(session)]
        records = {
            r.payment_id: r
            for r in session.exec(
                select(PaymentRecord).where(PaymentRecord.payment_id.in_(payment_ids))
            ).all()
        }
        booked = dict(
            session.exec(
                select(JournalEntry.payment_id, func.sum(Posting.amount))
                .join(Posting, Posting.entry_id == JournalEntry.id)
                .where(
                    JournalEntry.payment_id.in_(payment_ids),
                    JournalEntry.kind == "capture",  # its fee is an entry of its own
                    Posting.amount > 0,
                )
                .group_by(JournalEntry.payment_id)
            ).all()
        )
    for payment_id in payment_ids:
        state = states.get(payment_id)
        if state is None or not state.status.is_final:
            result.not_final.append(payment_id)
            continue
        result.statuses[state.status.value] += 1
        if charges.get(payment_id, 0) > 1:
            result.duplicate_charges[payment_id] = charges[payment_id]
        _check_ledger(result, state, int(booked.get(payment_id) or 0))
        _check_read_model(result, state, records.get(payment_id))
    return result


def _check_ledger(result: Verification, state: PaymentState, booked: int) -> None:
    """A succeeded payment books its captured amount once; any other outcome books nothing."""
    expected = state.captured_amount if state.status == PaymentStatus.SUCCEEDED else 0
    if booked != expected:
        result.ledger_mismatches.append(
            f"{state.payment_id} is {state.status.value} with {state.captured_amount} captured "
            f"but the ledger booked {booked}"
        )


def _check_read_model(result: Verification, state: PaymentState, record) -> None:
    if record is None:
        result.read_model_mismatches.append(f"{state.payment_id} has no row")
        return
    stored = (record.status, record.captured_amount, record.refunded_amount)
    actual = (state.status.value, state.captured_amount, state.refunded_amount)
    if stored != actual:
        result.read_model_mismatches.append(
            f"{state.payment_id}: row {stored} != workflow {actual}"
        )


async def _final_states(
    client: Client, tenant_id: str, payment_ids: list[str], settle_seconds: float
) -> dict[str, PaymentState]:
    semaphore = asyncio.Semaphore(32)

    async def one(payment_id: str) -> tuple[str, PaymentState | None]:
        handle = client.get_workflow_handle_for(
            PaymentWorkflow.run, payment_workflow_id(tenant_id, payment_id)
        )
        async with semaphore:
            try:
                # The result comes from history: no worker has to replay anything.
                async with asyncio.timeout(settle_seconds):
                    return payment_id, await handle.result()
            except (TimeoutError, RPCError, WorkflowFailureError):
                return payment_id, None

    return dict(await asyncio.gather(*(one(pid) for pid in payment_ids)))
