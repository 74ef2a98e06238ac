"""Prefixed opaque ids and the workflow id scheme ``{tenant}:{kind}:{id}``.

Patterns are anchored with ``\\A``/``\\Z``: ``$`` also matches before a final newline, so
``pay_…\\n`` would pass ``.match`` as an id."""

import hashlib
import re
import uuid
from functools import partial

PAYMENT_ID = re.compile(r"\Apay_[0-9a-f]{24}\Z")
REFUND_ID = re.compile(r"\Are_[0-9a-f]{24}\Z")
PAYOUT_ID = re.compile(r"\Apo_[0-9a-f]{24}\Z")
ACCOUNT_ID = re.compile(r"\Aacct_[0-9a-f]{24}\Z")
INVOICE_ID = re.compile(r"\Ainv_[0-9a-f]{24}\Z")
INSTALLMENT_PLAN_ID = re.compile(r"\Aip_[0-9a-f]{24}\Z")
PLAN_ID = re.compile(r"\Aplan_[0-9a-f]{24}\Z")
SUBSCRIPTION_ID = re.compile(r"\Asub_[0-9a-f]{24}\Z")
DISPUTE_ID = re.compile(r"\Adsp_[0-9a-f]{24}\Z")
# Ours, not a provider's: Stripe's own are ``cus_…`` and ``pm_…``.
CUSTOMER_ID = re.compile(r"\Acust_[0-9a-f]{24}\Z")
SAVED_METHOD_ID = re.compile(r"\Aspm_[0-9a-f]{24}\Z")
EVENT_ID = re.compile(r"\Aevt_[0-9a-f]{24}\Z")
WEBHOOK_ENDPOINT_ID = re.compile(r"\Awe_[0-9a-f]{24}\Z")
WEBHOOK_DELIVERY_ID = re.compile(r"\Awhd_[0-9a-f]{24}\Z")
EMAIL_ID = re.compile(r"\Aem_[0-9a-f]{24}\Z")


def _new(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


new_payment_id = partial(_new, "pay")
new_refund_id = partial(_new, "re")
new_payout_id = partial(_new, "po")
new_account_id = partial(_new, "acct")
new_invoice_id = partial(_new, "inv")
new_installment_plan_id = partial(_new, "ip")
new_plan_id = partial(_new, "plan")
new_subscription_id = partial(_new, "sub")
new_customer_id = partial(_new, "cust")
new_saved_method_id = partial(_new, "spm")
new_webhook_endpoint_id = partial(_new, "we")


# The kind of a payment's workflow id, by which log lines know they are about a payment.
PAYMENT_KIND = "payment"


def _workflow_id(kind: str, tenant_id: str, resource_id: str) -> str:
    return f"{tenant_id}:{kind}:{resource_id}"


payment_workflow_id = partial(_workflow_id, PAYMENT_KIND)
refund_workflow_id = partial(_workflow_id, "refund")
payout_workflow_id = partial(_workflow_id, "payout")
installment_plan_workflow_id = partial(_workflow_id, "installment-plan")
subscription_workflow_id = partial(_workflow_id, "subscription")
# What the provider reports after a refund's or payout's saga ended (one per refund/payout).
settlement_workflow_id = partial(_workflow_id, "settlement")
dispute_workflow_id = partial(_workflow_id, "dispute")
saved_method_workflow_id = partial(_workflow_id, "saved-method")
webhook_delivery_workflow_id = partial(_workflow_id, "webhook-delivery")
email_workflow_id = partial(_workflow_id, "email")


def payout_schedule_id(tenant_id: str, account_id: str) -> str:
    """The Temporal Schedule of a connected account's payouts (one per account)."""
    return f"{tenant_id}:payout-schedule:{account_id}"


def scheduled_payout_id(run_workflow_id: str) -> str:
    """The payout of one scheduled run, derived from the run's workflow id (the schedule
    id plus the scheduled time): a retried run pays out once, under the same id."""
    return f"po_{hashlib.sha256(run_workflow_id.encode()).hexdigest()[:24]}"


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


def dispute_id(provider: str, reference: str) -> str:
    """Our id of a provider's dispute, derived from the provider's id: every event about it,
    whichever arrives first, and reconciliation's reading of its balance transactions name
    the same dispute."""
    return f"dsp_{hashlib.sha256(f'{provider}:{reference}'.encode()).hexdigest()[:24]}"


def _derived(prefix: str, *parts: str) -> str:
    return f"{prefix}_{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:24]}"


def event_id(tenant_id: str, object_id: str, event_type: str, changed_at: str) -> str:
    """One id per change: derived from what changed and when (the state's ``updated_at``;
    empty for an object that makes each type once), so a write repeated after a crash
    names the event it already wrote."""
    return _derived("evt", tenant_id, object_id, event_type, changed_at)


def webhook_delivery_id(endpoint_id: str, event_id: str) -> str:
    """One delivery per endpoint and event: the relay that starts it twice starts it once."""
    return _derived("whd", endpoint_id, event_id)


def email_id(event_id: str, kind: str) -> str:
    """One email of each kind per event: the relay that starts it twice starts it once."""
    return _derived("em", event_id, kind)
