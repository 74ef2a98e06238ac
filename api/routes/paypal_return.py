"""Where PayPal sends the buyer's browser back: ``return_url`` after approving the order,
``cancel_url`` after cancelling at PayPal. PayPal appends ``?token=<order id>`` (and
``&PayerID=`` on return).

No API key: it is the buyer's browser. The order id is only a hint, exactly like a webhook:
on return the saga asks PayPal before acting; on cancel the saga cancels through its own
cancel update, which refuses when the payment is past cancelling. Both answer a small HTML
page and are idempotent. An order id that is no PayPal payment's answers 404 and changes
nothing.
"""

from datetime import UTC
from datetime import datetime
from html import escape
from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from api.dependencies import EngineDep
from api.dependencies import SessionDep
from api.dependencies import SettingsDep
from api.dependencies import TemporalDep
from api.problems import Problem
from api.sagas import PAYMENTS
from api.sagas import Sagas
from api.sagas import temporal_call
from schemas.payments import CancelRequest
from schemas.provider_events import ProviderEvent
from schemas.store.webhook_events import find_payment
from workflows.payment.workflow import PaymentWorkflow

# Browser routes, not part of the merchant's API: kept out of the OpenAPI document.
router = APIRouter(prefix="/paypal", include_in_schema=False)

OrderToken = Annotated[str, Query(min_length=1, max_length=100)]
# The buyer's PayPal account, sent with the return; the order knows it already.
PayerId = Annotated[str | None, Query(alias="PayerID", max_length=100)]


def _page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"</head><body><h1>{escape(title)}</h1><p>{escape(message)}</p></body></html>",
        status_code=status_code,
    )


async def _payment_of(engine: EngineDep, token: str, kind: str) -> tuple[ProviderEvent, str, str]:
    """The buyer's hint as the provider event a webhook would carry, and (tenant, payment id)
    of the PayPal payment whose order it names; 404 otherwise."""
    hint = ProviderEvent(
        provider="paypal",
        event_id=f"browser_{kind}:{token}",
        event_type=f"browser.{kind}",
        kind="action_completed",
        object_reference=token,
        occurred_at=datetime.now(UTC),
    )
    target = await run_in_threadpool(find_payment, engine, hint)
    if target is None:
        raise Problem("payment_not_found", "no PayPal payment has this order")
    return hint, *target


@router.get("/return")
async def paypal_return(
    token: OrderToken,
    engine: EngineDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
    payer_id: PayerId = None,
) -> HTMLResponse:
    """The buyer approved the order: the saga asks PayPal and completes the payment."""
    hint, tenant, payment_id = await _payment_of(engine, token, "return")
    sagas = Sagas(tenant, session, temporal, settings)
    with temporal_call():
        try:
            await sagas.handle(PAYMENTS, payment_id).signal(PaymentWorkflow.provider_event, hint)
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            # The saga has ended (a second hit after it succeeded): nothing left to complete.
            stored = await sagas.stored(PAYMENTS, payment_id)
            status = stored.status.value if stored else "unknown"
            return _page("Payment", f"This payment is {status}.")
    return _page("Thank you", "Your payment is being completed.")


@router.get("/cancel")
async def paypal_cancel(
    token: OrderToken,
    engine: EngineDep,
    session: SessionDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """The buyer cancelled at PayPal: the payment is canceled now, not at the action timeout."""
    _, tenant, payment_id = await _payment_of(engine, token, "cancel")
    sagas = Sagas(tenant, session, temporal, settings)
    reason = CancelRequest(reason="buyer cancelled at PayPal")
    try:
        await sagas.update(PAYMENTS, payment_id, PaymentWorkflow.cancel, reason, None)
    except Problem as refused:
        if refused.code != "invalid_state":
            raise
        # Already canceled (a second hit) or past cancelling (approved in another tab).
        stored = await sagas.stored(PAYMENTS, payment_id)
        status = stored.status.value if stored else "unknown"
        return _page("Payment", f"This payment is {status}; it was not canceled now.")
    return _page("Payment canceled", "Your payment was canceled.")
