"""Prefixed opaque ids and the workflow id scheme ``{tenant}:{kind}:{id}``."""

import hashlib
import re
import uuid

PAYMENT_ID = re.compile(r"^pay_[0-9a-f]{24}$")
REFUND_ID = re.compile(r"^re_[0-9a-f]{24}$")
PAYOUT_ID = re.compile(r"^po_[0-9a-f]{24}$")
ACCOUNT_ID = re.compile(r"^acct_[0-9a-f]{24}$")


def _new(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def new_payment_id() -> str:
    return _new("pay")


def new_refund_id() -> str:
    return _new("re")


def new_payout_id() -> str:
    return _new("po")


def new_account_id() -> str:
    return _new("acct")


def payment_workflow_id(tenant_id: str, payment_id: str) -> str:
    return f"{tenant_id}:payment:{payment_id}"


def refund_workflow_id(tenant_id: str, refund_id: str) -> str:
    return f"{tenant_id}:refund:{refund_id}"


def payout_workflow_id(tenant_id: str, payout_id: str) -> str:
    return f"{tenant_id}:payout:{payout_id}"


def payout_schedule_id(tenant_id: str, account_id: str) -> str:
    """The Temporal Schedule of a connected account's payouts (one per account)."""
    return f"{tenant_id}:payout-schedule:{account_id}"


def scheduled_payout_id(run_workflow_id: str) -> str:
    """The payout of one scheduled run, derived from the run's workflow id (the schedule
    id plus the scheduled time): a retried run pays out once, under the same id."""
    return f"po_{hashlib.sha256(run_workflow_id.encode()).hexdigest()[:24]}"
