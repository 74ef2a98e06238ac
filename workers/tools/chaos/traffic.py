"""One coroutine per payment: create it, act on it as a client would, wait until final."""

import asyncio
import time
from collections.abc import Callable

import httpx

from schemas.payments import FINAL_STATUSES
from workers.tools.chaos.client import CallFailed
from workers.tools.chaos.client import RetryingClient
from workers.tools.chaos.config import PaymentPlan

FINAL = frozenset(status.value for status in FINAL_STATUSES)
POLL_FIRST, POLL_MAX = 0.3, 2.0


async def drive_payment(
    plan: PaymentPlan, api: RetryingClient, gateway: httpx.AsyncClient, deadline: float
) -> None:
    """Never raises for the payment's sake: what went wrong is kept in ``plan.errors``."""
    try:
        created = await api.request(
            "POST", "/v1/payments", label="POST /v1/payments", json=plan.body(), key=plan.key
        )
        state = created.json()
        plan.payment_id = state["payment_id"]
        if plan.capture_method == "manual" or plan.scenario == "three_d_secure":
            if state["status"] == "processing":
                state = await _wait(api, plan, lambda s: s["status"] != "processing", deadline)
            if state["status"] == "requires_capture":
                await _capture(api, plan)
            elif state["status"] == "requires_action":
                await _three_d_secure(api, gateway, plan, state, deadline)
        if state["status"] not in FINAL:
            state = await _wait(api, plan, lambda s: s["status"] in FINAL, deadline)
        plan.final = state
    except CallFailed as exc:
        plan.errors.append(str(exc))


async def _capture(api: RetryingClient, plan: PaymentPlan) -> None:
    body = {"amount": plan.capture_amount} if plan.capture_amount else {}
    # 409: the hold expired first, or an earlier attempt's capture already finished it.
    await api.request(
        "POST",
        f"/v1/payments/{plan.payment_id}/capture",
        label="POST capture",
        json=body,
        key=f"{plan.key}-capture",
        accept=frozenset({409}),
    )


async def _three_d_secure(
    api: RetryingClient,
    gateway: httpx.AsyncClient,
    plan: PaymentPlan,
    state: dict,
    deadline: float,
) -> None:
    """The customer passes the challenge at the gateway, then the merchant confirms."""
    path = f"/v1/charges/{state['provider_reference']}/3ds/complete"
    while True:
        try:
            answer = await gateway.post(path, json={"outcome": "succeed"})
            if answer.status_code == 200:
                break
            raise CallFailed(f"3-D Secure completion: {answer.status_code} {answer.text[:300]}")
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                raise CallFailed(f"3-D Secure completion: {exc!r}") from exc
            await asyncio.sleep(0.5)
    # 409: the action timer expired first (the payment is then final as expired).
    await api.request(
        "POST",
        f"/v1/payments/{plan.payment_id}/confirm",
        label="POST confirm",
        json={},
        key=f"{plan.key}-confirm",
        accept=frozenset({409}),
    )


async def _wait(
    api: RetryingClient, plan: PaymentPlan, done: Callable[[dict], bool], deadline: float
) -> dict:
    delay = POLL_FIRST
    state: dict = {}
    while True:
        # 404: the payment's row is written by its first step; while no worker runs, a
        # payment that was started but not yet screened is not readable.
        answer = await api.request(
            "GET",
            f"/v1/payments/{plan.payment_id}",
            label="GET payment",
            accept=frozenset({404}),
        )
        if answer.status_code == 200:
            state = answer.json()
            if done(state):
                return state
        if time.monotonic() > deadline:
            raise CallFailed(
                f"{plan.payment_id} still {state.get('status', 'unreadable')} at the deadline"
            )
        await asyncio.sleep(delay)
        delay = min(POLL_MAX, delay * 1.5)
