"""Provider commands as the sagas build them (our ids, a key per step), for the adapter tests."""

import uuid

import pytest
from temporalio.exceptions import ApplicationError

from schemas.provider import AuthorizeCommand
from schemas.provider import ChargeCommand
from schemas.provider import ChargeResult
from schemas.provider import PayoutCommand
from schemas.provider import RefundCommand
from schemas.provider import TransferCommand
from schemas.provider import TransferResult
from schemas.provider import TransferReversalCommand


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def authorize_command(provider: str, payment_method: str, **overrides) -> AuthorizeCommand:
    payment_id = new_id("pay")
    fields = {
        "payment_id": payment_id,
        "provider": provider,
        "amount": 2000,
        "currency": "USD",
        "payment_method": payment_method,
        "customer_id": "cus_test",
        "capture": False,
        "idempotency_key": f"{payment_id}:authorize",
    }
    return AuthorizeCommand(**(fields | overrides))


def charge_command(
    provider: str, charge: ChargeResult, step: str, amount: int | None = None
) -> ChargeCommand:
    return ChargeCommand(
        payment_id="pay_test",
        provider=provider,
        reference=charge.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{charge.reference}:{step}:{uuid.uuid4().hex[:6]}",
    )


def refund_command(provider: str, charge: ChargeResult, amount: int, **overrides) -> RefundCommand:
    refund_id = new_id("re")
    fields = {
        "refund_id": refund_id,
        "payment_id": "pay_test",
        "provider": provider,
        "charge_reference": charge.reference,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{refund_id}:refund",
    }
    return RefundCommand(**(fields | overrides))


def _payout_step(provider: str, amount: int, destination: str, step: str) -> dict:
    """The fields of a new payout's money-moving ``step``, keyed as the saga keys it."""
    payout_id = new_id("po")
    return {
        "payout_id": payout_id,
        "provider": provider,
        "destination": destination,
        "amount": amount,
        "currency": "USD",
        "idempotency_key": f"{payout_id}:{step}",
    }


def transfer_command(provider: str, amount: int, destination: str, **overrides) -> TransferCommand:
    return TransferCommand(**(_payout_step(provider, amount, destination, "transfer") | overrides))


def reversal_command(
    provider: str, transfer: TransferResult, amount: int
) -> TransferReversalCommand:
    return TransferReversalCommand(
        payout_id=transfer.payout_id or new_id("po"),
        provider=provider,
        transfer_reference=transfer.reference,
        amount=amount,
        currency="USD",
        idempotency_key=f"{transfer.payout_id}:reverse_transfer:{uuid.uuid4().hex[:6]}",
    )


def payout_command(
    provider: str, amount: int, destination: str, bank_account: str = "ba_ok", **overrides
) -> PayoutCommand:
    fields = _payout_step(provider, amount, destination, "payout")
    return PayoutCommand(**(fields | {"bank_account": bank_account} | overrides))


async def failure_of(call) -> ApplicationError:
    """The ``ApplicationError`` awaiting ``call`` raises (the test fails if it raises none)."""
    with pytest.raises(ApplicationError) as raised:
        await call
    return raised.value
