"""Prefixed opaque ids and the workflow id scheme ``{tenant}:{kind}:{id}``."""

import hashlib
import re
import uuid

PAYMENT_ID = re.compile(r"^pay_[0-9a-f]{24}$")
REFUND_ID = re.compile(r"^re_[0-9a-f]{24}$")
PAYOUT_ID = re.compile(r"^po_[0-9a-f]{24}$")
ACCOUNT_ID = re.compile(r"^acct_[0-9a-f]{24}$")
INVOICE_ID = re.compile(r"^inv_[0-9a-f]{24}$")
INSTALLMENT_PLAN_ID = re.compile(r"^ip_[0-9a-f]{24}$")
PLAN_ID = re.compile(r"^plan_[0-9a-f]{24}$")
SUBSCRIPTION_ID = re.compile(r"^sub_[0-9a-f]{24}$")


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


def new_invoice_id() -> str:
    return _new("inv")


def new_installment_plan_id() -> str:
    return _new("ip")


def new_plan_id() -> str:
    return _new("plan")


def new_subscription_id() -> str:
    return _new("sub")


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


def installment_plan_workflow_id(tenant_id: str, installment_plan_id: str) -> str:
    return f"{tenant_id}:installment-plan:{installment_plan_id}"


def subscription_workflow_id(tenant_id: str, subscription_id: str) -> str:
    return f"{tenant_id}:subscription:{subscription_id}"


def billing_key(owner_id: str, period: int) -> str:
    """What a recurring charge is for: ``{sub id}:{period index}`` (or an installment's)."""
    return f"{owner_id}:{period}"


def billing_payment_id(owner_id: str, period: int, attempt: int) -> str:
    """The payment of one attempt at charging a period (or installment), derived from its
    business identity: a replayed, retried or restarted workflow charges it under the same
    payment id, hence the same provider idempotency keys (``{payment id}:{step}``). Each
    dunning attempt is a new payment (a declined key would answer declined forever)."""
    key = f"{billing_key(owner_id, period)}:{attempt}"
    return f"pay_{hashlib.sha256(key.encode()).hexdigest()[:24]}"
