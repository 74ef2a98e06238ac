"""Replay recorded histories: a workflow change that alters history without a patch fails."""

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.payment import PaymentWorkflow

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("payment_*.json"))


def test_histories_are_recorded():
    assert len(HISTORIES) >= 4


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_replay(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())  # noqa: ASYNC240
    replayer = Replayer(workflows=[PaymentWorkflow], data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
