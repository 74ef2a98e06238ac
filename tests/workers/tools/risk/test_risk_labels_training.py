"""``paysaga risk train --labels``: the model also learns from the real outcomes that the
label path stored (review verdicts, disputes), and says how many it used; with none it
refuses instead of quietly training on synthetic data alone.

The labels are written into a SQLite file by the real paths (the read model's upsert and the
webhook's ``record_dispute``); the command runs as a subprocess, as an operator runs it.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine

from activities.risk.model import CARD_FILE
from activities.risk.model import RiskModel
from schemas.payments import PaymentStatus
from schemas.risk import RiskModelCard
from schemas.store.database import make_engine
from schemas.store.database import upgrade
from schemas.store.webhook_events import record_dispute
from tests.support.paysaga_cli import paysaga_command
from tests.support.risk_states import dispute_event
from tests.support.risk_states import later
from tests.support.risk_states import record_states
from tests.support.risk_states import reviewed_state
from tests.workers.tools.risk.test_risk_model import HELD_OUT_LINE
from tests.workers.tools.risk.test_risk_model import PRECISION_FLOOR
from tests.workers.tools.risk.test_risk_model import RECALL_FLOOR
from workers.tools.risk.dataset import generate

TENANT = "ten_feedback"
SAMPLES = 20_000
SEED = 7
REJECTED, APPROVED, DISPUTED_AFTER_APPROVAL = 30, 45, 15
# Each payment is one training row, whatever its number of labels.
LABELLED_PAYMENTS = REJECTED + APPROVED + DISPUTED_AFTER_APPROVAL
LABELS_USED = re.compile(r"^labels used: (\d+) \(", re.MULTILINE)


def _database(path: Path) -> tuple[str, Engine]:
    url = f"sqlite:///{path}"
    upgrade(url)
    return url, make_engine(url)


def _outcomes(engine: Engine) -> None:
    """Real outcomes with realistic features: fraud rows of the generator (another seed than
    the training's) for rejections and disputes, legit rows for approvals."""
    data = generate(20_000, seed=99)
    fraud = iter(i for i in range(len(data.labels)) if data.labels[i])
    legit = iter(i for i in range(len(data.labels)) if not data.labels[i])
    for _ in range(REJECTED):
        state = reviewed_state(TENANT, data.features(next(fraud)), "reject")
        record_states(engine, state, later(state, PaymentStatus.CANCELED))
    for _ in range(APPROVED):
        state = reviewed_state(TENANT, data.features(next(legit)), "approve", channel="temporal")
        record_states(engine, state, later(state, PaymentStatus.SUCCEEDED))
    for _ in range(DISPUTED_AFTER_APPROVAL):
        # Approved by an operator, disputed once the saga had finished: fraud after all.
        state = reviewed_state(TENANT, data.features(next(fraud)), "approve")
        finished = later(state, PaymentStatus.SUCCEEDED)
        record_states(engine, state, finished)
        assert record_dispute(engine, TENANT, state.payment_id, dispute_event(finished))
    # Not labels, or labels that cannot train: a verdict the clock took, an open review.
    timed_out = reviewed_state(TENANT, data.features(next(legit)), "reject", channel="timeout")
    record_states(engine, timed_out, reviewed_state(TENANT, data.features(next(legit)), None))


def _train(url: str, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            *paysaga_command(),
            *("risk", "train", "--labels", "--database-url", url, "--out", str(out)),
            *("--samples", str(SAMPLES), "--seed", str(SEED)),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_training_uses_the_stored_labels_and_reports_them(tmp_path: Path) -> None:
    url, engine = _database(tmp_path / "paysaga.db")
    try:
        _outcomes(engine)
    finally:
        engine.dispose()
    out = tmp_path / "model"

    result = _train(url, out)

    assert result.returncode == 0, result.stderr
    used = LABELS_USED.search(result.stdout)
    assert used, result.stdout
    assert int(used.group(1)) == LABELLED_PAYMENTS
    assert f"{REJECTED + DISPUTED_AFTER_APPROVAL} fraud, {APPROVED} legit" in result.stdout
    match = HELD_OUT_LINE.search(result.stdout)
    assert match, result.stdout
    printed = {name: float(value) for name, value in match.groupdict().items()}
    assert printed["n"] == math.ceil((SAMPLES + LABELLED_PAYMENTS) * 0.25)
    assert printed["precision"] >= PRECISION_FLOOR, printed
    assert printed["recall"] >= RECALL_FLOOR, printed

    card = RiskModelCard.model_validate_json((out / CARD_FILE).read_bytes())
    assert card.source == "labels"
    assert card.version.startswith("labels-")
    assert card.samples == SAMPLES + LABELLED_PAYMENTS
    assert card.precision == pytest.approx(printed["precision"], abs=5e-5)
    assert RiskModel.load(out).card == card


def test_labels_without_features_or_from_the_clock_are_not_enough(tmp_path: Path) -> None:
    url, engine = _database(tmp_path / "paysaga.db")
    try:
        timed_out = reviewed_state(TENANT, None, "reject", channel="timeout")
        unscored = reviewed_state(TENANT, None, "reject")
        record_states(engine, timed_out, unscored)
    finally:
        engine.dispose()
    out = tmp_path / "model"

    result = _train(url, out)

    assert result.returncode == 1, result.stdout
    assert "no usable labels" in result.stderr
    assert "(1 stored, 1 without features)" in result.stderr
    assert not out.exists()
