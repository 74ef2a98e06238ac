"""Operators find a payment by its search attributes from its first moment (dev server)."""

import asyncio

from temporalio.api.enums.v1 import EventType

from schemas.payments import PaymentStatus
from tests.support.payments import payment_input
from tests.support.payments import start_payment
from tests.support.worker import running_worker
from workflows.kit import search_attributes as sa

UPSERTED = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES


async def _upserts(handle) -> int:
    """The saga's own upserts: not the SDK's, which files each ``workflow.patched`` id under
    ``TemporalChangeVersion``."""
    history = await handle.fetch_history()
    return sum(
        1
        for event in history.events
        if event.event_type == UPSERTED
        and set(
            event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        )
        != {"TemporalChangeVersion"}
    )


async def test_filed_at_start_a_payment_is_findable_before_any_worker_runs_it(local_env, settings):
    payment = payment_input()
    # No worker polls this task queue: only the start can have filed the payment.
    handle = await start_payment(local_env.client, settings, payment, filed_at_start=True)
    query = (
        f"WorkflowId = '{handle.id}' AND TenantId = '{payment.tenant_id}' "
        f"AND PaymentStatus = 'processing' AND AmountMinor = {payment.amount}"
    )
    try:
        # Visibility is eventually consistent: poll it, as the Temporal UI does.
        async with asyncio.timeout(10):
            while True:
                if (await local_env.client.count_workflows(query)).count == 1:
                    break
                await asyncio.sleep(0.1)
    finally:
        await handle.terminate("test done")


async def test_both_ways_of_starting_end_filed_alike_with_one_upsert_fewer_when_filed_at_start(
    local_env, settings, engine
):
    async with running_worker(local_env.client, settings, engine):
        filed = await start_payment(
            local_env.client, settings, payment_input(), filed_at_start=True
        )
        unfiled = await start_payment(local_env.client, settings, payment_input())
        for handle in (filed, unfiled):
            assert (await handle.result()).status == PaymentStatus.SUCCEEDED

    described = [(await h.describe()).typed_search_attributes for h in (filed, unfiled)]
    for attributes in described:
        assert attributes.get(sa.PAYMENT_STATUS) == "succeeded"
        assert attributes.get(sa.PAYMENT_PROVIDER) == "sandbox"
        assert attributes.get(sa.CURRENCY) == "USD"
    assert (await _upserts(filed), await _upserts(unfiled)) == (1, 2)
