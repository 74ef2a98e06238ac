"""What an operator sees in the Temporal UI: search attributes, summary, readable steps."""

import asyncio

from schemas.runtime.temporal_client import connect
from tests.e2e.conftest import create_payment
from tests.support.workflow_history import local_activities
from tests.support.workflow_history import scheduled_activities
from workflows.kit import search_attributes as sa


async def test_payment_workflow_is_findable_and_readable(stack, api):
    payment = (await create_payment(api, amount=1999, customer_id="cus_operator")).json()
    # Summaries are payloads: encrypted, so read with the stack's keys.
    client = await connect(stack.settings())

    # Visibility is eventually consistent: the final status is indexed shortly after.
    async with asyncio.timeout(15):
        while True:
            found = [
                wf
                async for wf in client.list_workflows(
                    'PaymentStatus = "succeeded" AND CustomerId = "cus_operator"'
                )
            ]
            if found:
                break
            await asyncio.sleep(0.2)
    assert [wf.id for wf in found] == [f"ten_default:payment:{payment['payment_id']}"]

    handle = client.get_workflow_handle(found[0].id)
    description = await handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(sa.PAYMENT_PROVIDER) == "sandbox"
    assert attributes.get(sa.TENANT_ID) == "ten_default"
    assert attributes.get(sa.CURRENCY) == "USD"
    assert attributes.get(sa.AMOUNT_MINOR) == 1999
    # Started under its tenant's fairness key: its workflow tasks wait their tenant's turn.
    assert description.raw_description.workflow_execution_info.priority.fairness_key == (
        "ten_default"
    )
    assert await description.static_summary() == "19.99 USD via sandbox, automatic capture"

    # The provider answered at once: every step ran in the workflow task, as a local activity.
    history = await handle.fetch_history()
    assert scheduled_activities(history) == []
    assert local_activities(history) == ["screen_payment", "authorize_payment", "record_payment"]


async def test_a_refund_is_filed_under_its_tenant_and_amount(stack, api):
    payment = (await create_payment(api, amount=3_000)).json()
    refund = await api.post(
        f"/v1/payments/{payment['payment_id']}/refunds",
        json={"amount": 1_234},
        headers={"Idempotency-Key": f"operator-{payment['payment_id']}"},
    )
    assert refund.status_code == 201, refund.text
    # Summaries are payloads: encrypted, so read with the stack's keys.
    client = await connect(stack.settings())

    found = [
        wf.id
        async for wf in client.list_workflows(
            'WorkflowType = "RefundWorkflow" AND TenantId = "ten_default" AND AmountMinor = 1234'
        )
    ]

    workflow_id = f"ten_default:refund:{refund.json()['refund_id']}"
    assert workflow_id in found
    description = await client.get_workflow_handle(workflow_id).describe()
    assert await description.static_summary() == f"refund of {payment['payment_id']}"
