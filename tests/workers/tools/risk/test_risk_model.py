"""The risk model: ``paysaga risk train`` beats a stated recall at a stated
precision on held-out data, and the worker's ``RiskModel`` loads and scores deterministically.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from activities.risk.model import CARD_FILE
from activities.risk.model import MODEL_FILE
from activities.risk.model import RiskModel
from activities.risk.model import RiskModelError
from schemas.risk import FEATURE_NAMES
from schemas.risk import RiskFeatures
from schemas.risk import RiskModelCard
from schemas.risk import as_row
from tests.support.paysaga_cli import paysaga_command
from tests.support.risk_states import FRAUDULENT
from tests.support.risk_states import LEGIT
from workers.tools.risk.dataset import FRAUD_RATE
from workers.tools.risk.dataset import generate

SAMPLES = 20_000
SEED = 7
# What the command must reach on its held-out rows (seed 7, 20,000 samples: 5,000 held out,
# 95 of them fraudulent). The threshold targets precision 0.80 on cross-validated training
# predictions; measured on the held-out rows (scikit-learn 1.9.1): precision 0.704, recall
# 0.600, ROC AUC 0.957. Seeds 1-10 gave precision 0.70-0.91 (mean 0.80), recall 0.42-0.61
# (mean 0.54), ROC AUC 0.915-0.957: with ~50 flagged payments, held-out precision has a
# standard error near 0.06. The floors keep a margin for other library versions.
PRECISION_FLOOR = 0.65
RECALL_FLOOR = 0.50
ROC_AUC_RANGE = (0.90, 0.98)

HELD_OUT_LINE = re.compile(
    r"^held-out: precision=(?P<precision>[0-9.]+) recall=(?P<recall>[0-9.]+) "
    r"roc_auc=(?P<roc_auc>[0-9.]+) threshold=(?P<threshold>[0-9.]+) \(n=(?P<n>\d+)\)$",
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, float]]:
    out = tmp_path_factory.mktemp("risk") / "model"
    command = [*paysaga_command(), "risk", "train", "--out", str(out)]
    result = subprocess.run(
        [*command, "--samples", str(SAMPLES), "--seed", str(SEED)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    match = HELD_OUT_LINE.search(result.stdout)
    assert match, result.stdout
    printed = {name: float(value) for name, value in match.groupdict().items()}
    return out, printed


def test_training_beats_the_stated_recall_at_the_stated_precision(trained) -> None:
    _, printed = trained
    assert printed["n"] == SAMPLES // 4
    assert printed["precision"] >= PRECISION_FLOOR, printed
    assert printed["recall"] >= RECALL_FLOOR, printed
    # Learnable but not trivial: the synthetic fraud overlaps the legit payments.
    assert ROC_AUC_RANGE[0] <= printed["roc_auc"] <= ROC_AUC_RANGE[1], printed


def test_the_saved_card_matches_what_was_printed(trained) -> None:
    out, printed = trained
    card = RiskModelCard.model_validate_json((out / CARD_FILE).read_bytes())
    assert (out / MODEL_FILE).is_file()
    assert card.features == list(FEATURE_NAMES)
    assert card.source == "synthetic"
    assert card.seed == SEED
    assert card.samples == SAMPLES
    assert card.held_out == printed["n"]
    for name in ("precision", "recall", "roc_auc", "threshold"):
        assert getattr(card, name) == pytest.approx(printed[name], abs=5e-5), name


def test_scores_are_deterministic_and_rank_fraud_above_legit(trained) -> None:
    out, _ = trained
    first, second = RiskModel.load(out), RiskModel.load(out)
    assert first.card == second.card
    fraud_score = first.score(FRAUDULENT)
    legit_score = first.score(LEGIT)
    assert 0.0 <= legit_score < fraud_score <= 1.0
    assert first.score(FRAUDULENT) == fraud_score
    assert second.score(FRAUDULENT) == fraud_score
    assert second.score(LEGIT) == legit_score
    assert fraud_score >= first.card.threshold > legit_score


def test_scores_agree_with_the_rows_the_model_was_trained_on(trained) -> None:
    out, _ = trained
    model = RiskModel.load(out)
    data = generate(50, SEED)
    for index in range(50):
        features = data.features(index)
        assert as_row(features) == list(data.rows[index])
        assert 0.0 <= model.score(features) <= 1.0


def test_a_model_with_other_features_is_refused(trained, tmp_path: Path) -> None:
    out, _ = trained
    copy = tmp_path / "other"
    shutil.copytree(out, copy)
    card = json.loads((copy / CARD_FILE).read_text())
    card["features"] = [*FEATURE_NAMES[:-1], "device_age_days"]
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(RiskModelError, match=r"device_age_days.*paysaga risk train"):
        RiskModel.load(copy)
    card["features"] = list(reversed(FEATURE_NAMES))
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(RiskModelError, match="trained on features"):
        RiskModel.load(copy)


def test_a_missing_model_is_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(RiskModelError, match=r"model\.json is missing"):
        RiskModel.load(tmp_path)


def test_the_dataset_is_deterministic_for_a_seed() -> None:
    first, again, other = generate(5_000, 11), generate(5_000, 11), generate(5_000, 12)
    assert np.array_equal(first.rows, again.rows)
    assert np.array_equal(first.labels, again.labels)
    assert not np.array_equal(first.rows, other.rows)


def test_the_dataset_has_the_stated_base_rate_and_valid_features() -> None:
    data = generate(SAMPLES, SEED)
    assert data.rows.shape == (SAMPLES, len(FEATURE_NAMES))
    # Binomial(20,000, 0.02) has a standard deviation of 0.001: 4 of them.
    assert data.fraud_rate == pytest.approx(FRAUD_RATE, abs=0.004)
    for index in range(0, SAMPLES, 97):
        data.features(index)  # validates each feature against the contract
    new = data.rows[:, FEATURE_NAMES.index("new_customer")] == 1
    assert (data.rows[new, FEATURE_NAMES.index("amount_zscore")] == 0).all()
    amounts = data.rows[:, FEATURE_NAMES.index("velocity_amount_1h")]
    assert (amounts == np.rint(amounts)).all()


def test_velocity_amount_is_integer_minor_units() -> None:
    values = {name: getattr(LEGIT, name) for name in FEATURE_NAMES}
    with pytest.raises(ValueError, match="velocity_amount_1h"):
        RiskFeatures(**{**values, "velocity_amount_1h": 12.5})
    with pytest.raises(ValueError, match="hour_of_day"):
        RiskFeatures(**{**values, "hour_of_day": 24})
