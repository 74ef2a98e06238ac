"""Replay recorded histories: a workflow change that alters history without a patch fails."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.installment_plan.workflow import InstallmentPlanWorkflow
from workflows.payment.workflow import PaymentWorkflow
from workflows.payout.workflow import PayoutWorkflow
from workflows.refund.workflow import RefundWorkflow
from workflows.subscription.workflow import SubscriptionWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))
# A history's file name starts with the kind of money movement it recorded.
WORKFLOWS = {
    "payment": PaymentWorkflow,
    "refund": RefundWorkflow,
    "payout": PayoutWorkflow,
    "subscription": SubscriptionWorkflow,
    "installment": InstallmentPlanWorkflow,
}


def test_histories_are_recorded():
    kinds = [path.stem.split("_")[0] for path in HISTORIES]
    assert all(kinds.count(kind) >= 2 for kind in WORKFLOWS), kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240
    workflow = WORKFLOWS[path.stem.split("_")[0]]
    replayer = Replayer(workflows=[workflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
