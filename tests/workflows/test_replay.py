"""Replay recorded histories: a workflow change that alters history without a patch fails."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows import WORKFLOWS

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*.json"))
# A history's file name starts with the kind of money movement it recorded.
KINDS = (
    "payment",
    "refund",
    "payout",
    "subscription",
    "installment",
    "settlement",
    "email",
    "webhook",
)


def test_histories_are_recorded():
    kinds = [path.stem.split("_")[0] for path in HISTORIES]
    assert all(kinds.count(kind) >= 2 for kind in KINDS), kinds


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240
    # Every workflow is registered: the history's start event names the one it replays.
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
