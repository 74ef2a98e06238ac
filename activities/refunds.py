"""Refund admission and bookkeeping, each step one SQL transaction.

Admission is serialized per payment by the payment's read-model row: ``reserve_refund``
locks it (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` takes the
database's write lock), sums the refunds already admitted, and only then stores the new one
and reserves its money in the ledger. Two refunds of one payment can never both see the same
refundable rest. The read model alone is enough: it works long after the payment's workflow
history is gone.
"""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import update
from temporalio import activity

from activities.admission import admitted_state
from activities.admission import rejected
from activities.ledger import LedgerBacked
from schemas.domain import journals
from schemas.payments import REFUNDABLE_STATUSES
from schemas.payments import PaymentState
from schemas.payments import PaymentStatus
from schemas.refunds import RecordRefundCommand
from schemas.refunds import RefundInput
from schemas.refunds import RefundState
from schemas.refunds import RefundStatus
from schemas.store.read_model import PAYMENTS
from schemas.store.read_model import REFUNDS
from schemas.store.refunds import held_amount
from schemas.store.refunds import succeeded_amount
from schemas.store.tables import PaymentRecord


class RefundActivities(LedgerBacked):
    @activity.defn
    def reserve_refund(self, refund: RefundInput) -> RefundState:
        """Admit the refund and reserve its money, or raise ``Rejected`` (nothing written)."""
        with self._ledger.transaction() as transaction:
            connection = transaction.connection
            payment = PAYMENTS.get(connection, refund.tenant_id, refund.payment_id, lock=True)
            existing = REFUNDS.get(connection, refund.tenant_id, refund.refund_id)
            if existing is not None:
                return existing  # a retry of an attempt that committed
            if payment is None:
                raise rejected("payment_not_found", "No such payment")
            if payment.status not in REFUNDABLE_STATUSES:
                raise rejected(
                    "invalid_state",
                    f"payment is {payment.status.value}; refunds need a captured payment",
                )
            held = held_amount(connection, payment.tenant_id, payment.payment_id)
            refundable = payment.captured_amount - held
            amount = refundable if refund.amount is None else refund.amount
            if amount > refundable or amount <= 0:
                raise rejected(
                    "amount_exceeds_refundable",
                    f"refund of {amount} exceeds the refundable {refundable} "
                    f"({payment.currency}, minor units)",
                )
            state = admitted_state(
                RefundState,
                refund,
                datetime.now(UTC),
                amount=amount,
                currency=payment.currency,
                provider=payment.provider,
                charge_reference=payment.provider_reference,
            )
            REFUNDS.upsert(connection, state)
            entry = journals.refund_reserve(
                refund.refund_id, state.provider, state.currency, amount
            )
            transaction.reserve(
                refund.tenant_id,
                entry,
                f"the merchant's available balance cannot cover a refund of {amount} "
                "(the provider keeps its fees; paid-out money is gone)",
                payment_id=refund.payment_id,
            )
            return state

    @activity.defn
    def record_refund(self, command: RecordRefundCommand) -> None:
        """Store the refund's state and its journal; a success also updates the payment."""
        state = command.state
        with self._ledger.transaction() as transaction:
            connection = transaction.connection
            payment = PAYMENTS.get(connection, state.tenant_id, state.payment_id, lock=True)
            REFUNDS.upsert(connection, state)
            transaction.post(state.tenant_id, command.journal, payment_id=state.payment_id)
            # A refund that went through, or one the provider failed after it had.
            reversed_ = any(entry.kind == "refund_reversal" for entry in command.journal)
            if (state.status == RefundStatus.SUCCEEDED or reversed_) and payment is not None:
                apply_refunds_to_payment(connection, payment, state.updated_at)


def apply_refunds_to_payment(connection: Connection, payment: PaymentState, at: datetime) -> None:
    """The payment's refunded amount is the sum of its succeeded refunds (so a retried
    write cannot count one twice), and its status says whether anything is left."""
    refunded = succeeded_amount(connection, payment.tenant_id, payment.payment_id)
    payment.refunded_amount = refunded
    if refunded >= payment.captured_amount:
        payment.status = PaymentStatus.REFUNDED
    elif refunded > 0:
        payment.status = PaymentStatus.PARTIALLY_REFUNDED
    elif payment.status in (PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED):
        payment.status = PaymentStatus.SUCCEEDED  # its only refunds failed after all
    payment.updated_at = max(payment.updated_at, at)
    connection.execute(
        update(PaymentRecord)
        .where(PaymentRecord.payment_id == payment.payment_id)
        .values(
            status=payment.status.value,
            refunded_amount=refunded,
            state_json=payment.model_dump_json(),
            updated_at=payment.updated_at,
        )
    )
