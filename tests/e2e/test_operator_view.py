"""What an operator sees in the Temporal UI: search attributes, summary, readable steps."""

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.e2e.conftest import create_payment
from workflows import search_attributes as sa


async def test_payment_workflow_is_findable_and_readable(stack, api):
    payment = (await create_payment(api, amount=1999, customer_id="cus_operator")).json()
    client = await Client.connect(stack.temporal_address)

    found = [
        wf
        async for wf in client.list_workflows(
            'PaymentStatus = "succeeded" AND CustomerId = "cus_operator"'
        )
    ]
    assert [wf.id for wf in found] == [f"ten_default:payment:{payment['payment_id']}"]

    handle = client.get_workflow_handle(found[0].id)
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.PAYMENT_PROVIDER) == "sandbox"
    assert attributes.get(sa.TENANT_ID) == "ten_default"
    assert attributes.get(sa.CURRENCY) == "USD"
    assert attributes.get(sa.AMOUNT_MINOR) == 1999
    assert await description.static_summary() == "19.99 USD via sandbox, automatic capture"

    scheduled = [
        event.activity_task_scheduled_event_attributes.activity_type.name
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["authorize_payment"]
    markers = [
        event
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    assert len(markers) == 2  # the local activities: screen_payment and record_payment
