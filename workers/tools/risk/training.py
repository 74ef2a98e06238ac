"""Train the risk model and measure it honestly.

1. Split the labelled rows 75/25, stratified on the label (seeded). The 25 % *held-out* part
   takes no part in anything below until the final measurement.
2. Choose the operating point on the training part only: 5-fold cross-validated
   probabilities (each row scored by a model that did not see it), then the threshold with
   the highest recall whose precision is at least ``PRECISION_TARGET``.
3. Fit the estimator on the whole training part; score the held-out part; report precision
   and recall at that threshold, and ROC AUC. The model that is saved is exactly the one
   measured (no refit on the held-out rows afterwards).

The estimator is scikit-learn's ``HistGradientBoostingClassifier``: the features interact
(a burst of velocity means little by day from a known customer, a lot at night with failed
attempts) and are not monotone on their own scale (``hour_of_day`` is circular), which trees
take as they are while a linear model would need hand-made encodings. Its probabilities are
not reweighted (no class weights), so the score stays a probability of fraud.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Literal

import joblib
import numpy as np
import sklearn
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import precision_recall_curve
from sklearn.metrics import precision_score
from sklearn.metrics import recall_score
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection import cross_val_predict
from sklearn.model_selection import train_test_split

from activities.risk.model import CARD_FILE
from activities.risk.model import MODEL_FILE
from schemas.risk import FEATURE_NAMES
from schemas.risk import RiskModelCard

PRECISION_TARGET = 0.80
HELD_OUT_FRACTION = 0.25
CV_FOLDS = 5


class TrainingError(ValueError):
    """The labelled rows cannot give a model worth saving."""


def make_estimator(seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        learning_rate=0.08,
        max_iter=300,
        max_leaf_nodes=15,
        min_samples_leaf=40,
        l2_regularization=1.0,
        early_stopping=True,
        validation_fraction=0.15,
        n_iter_no_change=20,
        random_state=seed,
    )


def choose_threshold(
    labels: np.ndarray, scores: np.ndarray, precision_target: float
) -> tuple[float, float, float]:
    """``(threshold, precision, recall)``: the highest recall with precision >= the target
    (``score >= threshold`` is predicted fraud); at equal recall, the higher threshold.

    Raises ``TrainingError`` when no threshold reaches the target.
    """
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    # The last point (precision 1, recall 0) has no threshold.
    precision, recall = precision[:-1], recall[:-1]
    reaching = np.flatnonzero(precision >= precision_target)
    if reaching.size == 0:
        raise TrainingError(
            f"no threshold reaches precision {precision_target:.2f} on the cross-validated "
            f"training predictions (best {precision.max():.3f})"
        )
    best_recall = recall[reaching].max()
    index = reaching[recall[reaching] == best_recall].max()
    return float(thresholds[index]), float(precision[index]), float(recall[index])


def train(
    rows: Sequence[Sequence[float]] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    seed: int,
    *,
    precision_target: float = PRECISION_TARGET,
    source: Literal["synthetic", "labels"] = "synthetic",
    weights: Sequence[float] | np.ndarray | None = None,
) -> tuple[HistGradientBoostingClassifier, RiskModelCard]:
    """Fit the risk model on ``rows`` (``FEATURE_NAMES`` columns) and ``labels`` (1 = fraud);
    the card carries the threshold and the held-out metrics.

    ``weights`` (one per row, default 1) weigh the rows when fitting only: the threshold and
    the held-out metrics count each row once.
    """
    x = np.asarray(rows, dtype=np.float64)
    y = np.asarray(labels).astype(np.int8)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(FEATURE_NAMES):
        raise TrainingError(f"rows must have {len(FEATURE_NAMES)} columns: {FEATURE_NAMES}")
    if len(x) != len(y) or len(w) != len(y):
        raise TrainingError(f"{len(x)} rows, {len(y)} labels, {len(w)} weights")
    positives = int(y.sum())
    if positives < CV_FOLDS * 2 or len(y) - positives < CV_FOLDS * 2:
        raise TrainingError(f"too few examples of each class ({positives} fraud of {len(y)})")

    x_train, x_held, y_train, y_held, w_train, _ = train_test_split(
        x, y, w, test_size=HELD_OUT_FRACTION, stratify=y, random_state=seed
    )
    # Unit weights are left out: the estimator then takes its unweighted (faster) path, and
    # synthetic-only training stays exactly what it was.
    fit_weights = {} if weights is None else {"sample_weight": w_train}
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    cv_scores = cross_val_predict(
        make_estimator(seed),
        x_train,
        y_train,
        cv=folds,
        method="predict_proba",
        params=fit_weights,
    )[:, 1]
    threshold, _, _ = choose_threshold(y_train, cv_scores, precision_target)

    estimator = make_estimator(seed).fit(x_train, y_train, **fit_weights)
    held_scores = estimator.predict_proba(x_held)[:, 1]
    predicted = (held_scores >= threshold).astype(np.int8)
    trained_at = datetime.now(UTC).replace(microsecond=0)
    card = RiskModelCard(
        version=f"{source}-{trained_at:%Y%m%dT%H%M%SZ}-seed{seed}",
        features=list(FEATURE_NAMES),
        trained_at=trained_at,
        samples=len(y),
        held_out=len(y_held),
        threshold=threshold,
        precision=float(precision_score(y_held, predicted, zero_division=0)),
        recall=float(recall_score(y_held, predicted, zero_division=0)),
        roc_auc=float(roc_auc_score(y_held, held_scores)),
        source=source,
        seed=seed,
        precision_target=precision_target,
        estimator=f"{type(estimator).__name__} (scikit-learn {sklearn.__version__})",
    )
    return estimator, card


def _replace_atomically(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it 0600; the worker may run as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save(directory: str | os.PathLike[str], estimator, card: RiskModelCard) -> Path:
    """Write ``model.joblib`` and its card ``model.json`` into ``directory``."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    _replace_atomically(target / MODEL_FILE, lambda tmp: joblib.dump(estimator, tmp))
    _replace_atomically(
        target / CARD_FILE,
        lambda tmp: Path(tmp).write_text(card.model_dump_json(indent=2) + "\n"),
    )
    return target
