"""Charging a subscription period or an installment: a child payment saga per attempt."""

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from schemas.billing import ON_SESSION_ACTION_TIMEOUT
    from schemas.billing import ChargeAttempt
    from schemas.billing import ChargePolicy
    from schemas.customers import OffSessionMethod
    from schemas.domain.routing import NoEligibleProvider
    from schemas.domain.routing import route
    from schemas.identity import billing_key
    from schemas.identity import billing_payment_id
    from schemas.identity import payment_workflow_id
    from schemas.money import format_minor
    from schemas.payments import PaymentInput
    from schemas.payments import PaymentState
    from workflows.kit import policies
    from workflows.kit import search_attributes as sa

from workflows.billing.activities import lookup_payment_outcome
from workflows.payment.workflow import PaymentWorkflow


async def charge(
    *,
    tenant_id: str,
    owner_id: str,
    period: int,
    attempt: int,
    amount: int,
    currency: str,
    customer_id: str,
    payment_method: str,
    description: str,
    policy: ChargePolicy | None = None,
    saved: OffSessionMethod | None = None,
    on_session: bool = False,
) -> ChargeAttempt:
    """Charge ``amount`` for ``owner_id``'s period (or installment) ``period``.

    The payment id, hence the provider's idempotency keys, derive from
    ``{owner}:{period}:{attempt}``: a replayed or restarted parent never charges a period
    twice, and each dunning retry is a payment of its own. The customer is not there
    (off-session): a charge that needs 3-D Secure fails at once (``action_expired``).

    With a ``policy`` the payment is routed, and bounded, as ``POST /v1/payments`` would
    route it; no eligible provider is a failed attempt, which dunning retries.

    A customer's ``saved`` method is charged at the provider holding it, with the provider's
    customer, off-session: a card that needs authentication is declined there
    (``authentication_required``), and dunning retries it. ``on_session``: the customer is
    here to act, so the payment waits for its action (``ON_SESSION_ACTION_TIMEOUT``)."""
    payment_id = billing_payment_id(owner_id, period, attempt)
    try:
        routed = _routed(policy, tenant_id, currency, payment_method, saved)
    except NoEligibleProvider as refused:
        return ChargeAttempt(
            attempt=attempt,
            payment_id=payment_id,
            amount=amount,
            status="failed",
            failure_code="no_eligible_provider",
            failure_message=str(refused),
            at=workflow.now(),
        )
    payment = PaymentInput(
        payment_id=payment_id,
        tenant_id=tenant_id,
        amount=amount,
        currency=currency,
        customer_id=customer_id,
        payment_method=payment_method,
        description=description,
        metadata={"billing_key": billing_key(owner_id, period), "attempt": str(attempt)},
        action_timeout=ON_SESSION_ACTION_TIMEOUT if on_session else timedelta(0),
        **routed,
    )
    if saved is not None:
        payment = payment.model_copy(
            update={
                "payment_method": saved.method_reference,
                "provider_customer": saved.customer_reference,
                "off_session": not on_session,
            }
        )
    try:
        state: PaymentState = await workflow.execute_child_workflow(
            PaymentWorkflow.run,
            payment,
            id=payment_workflow_id(tenant_id, payment_id),
            search_attributes=sa.at_start(payment),
            static_summary=f"{description}: {format_minor(amount, currency)}",
            # A subscription canceled mid-charge must not leave a half-done payment.
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
    except ChildWorkflowError as failed:
        status, code, message = "failed", "payment_failed", str(failed.cause or failed)
    else:
        status, code, message = state.status.value, state.failure_code, state.failure_message
    return ChargeAttempt(
        attempt=attempt,
        payment_id=payment_id,
        amount=amount,
        status=status,
        failure_code=code,
        failure_message=message,
        at=workflow.now(),
    )


def _routed(
    policy: ChargePolicy | None,
    tenant_id: str,
    currency: str,
    payment_method: str,
    saved: OffSessionMethod | None = None,
) -> dict:
    """The child payment's provider fields and the limits the API gives every payment; a
    saved method is pinned to its provider."""
    if saved is not None:
        providers = [saved.provider]
        if policy is None:
            return {"provider": saved.provider}
    elif policy is None:
        return {}
    else:
        providers = route(
            policy.routing,
            policy.configured,
            tenant=tenant_id,
            currency=currency,
            payment_method=payment_method,
        )
    return {
        "provider": providers[0],
        "fallback_providers": providers[1:],
        "authorization_hold": policy.authorization_hold,
        "provider_deadline": policy.provider_deadline,
        "review_timeout": policy.review_timeout,
        "review_timeout_action": policy.review_timeout_action,
    }


async def settled_outcome(payment_id: str) -> str | None:
    """The payment's status now, as reconciliation left it in the read model."""
    return await workflow.execute_local_activity(
        lookup_payment_outcome, payment_id, **policies.LOCAL_CALL
    )
