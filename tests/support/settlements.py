"""What the settlement saga of a refund or payout did, for the tests that send it events."""

from schemas.identity import settlement_workflow_id
from schemas.runtime.temporal_client import connect
from workers.stack import EmbeddedStack


async def settled(stack: EmbeddedStack, subject: dict) -> list[str]:
    """The outcomes of the latest run of the saga of ``subject`` (a refund's or payout's
    state as the API answers it), once that run has ended."""
    subject_id = subject.get("refund_id") or subject["payout_id"]
    client = await connect(stack.settings())
    handle = client.get_workflow_handle(settlement_workflow_id(subject["tenant_id"], subject_id))
    return await handle.result()
