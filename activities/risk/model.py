"""The trained risk model, loaded once per worker (``load_configured``) and used by
the fraud check on every payment.

``paysaga risk train`` writes ``model.joblib`` (the scikit-learn estimator) and
``model.json`` (its ``RiskModelCard``) into a directory; ``RiskModel.load`` reads both and
refuses a model whose feature list is not ``schemas.risk.FEATURE_NAMES``. ``score`` gives the
probability of fraud of one payment; the same features always give the same score.

``model.joblib`` is a pickle: load only models this project trained (never one uploaded by a
user).
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from schemas.risk import FEATURE_NAMES
from schemas.risk import RiskFeatures
from schemas.risk import RiskModelCard
from schemas.risk import as_row

if TYPE_CHECKING:
    from schemas.runtime.settings import Settings

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
CARD_FILE = "model.json"


class RiskModelError(ValueError):
    """The saved model cannot be used (missing files, or features that do not match)."""


class RiskModel:
    def __init__(self, estimator: Any, card: RiskModelCard) -> None:
        if list(card.features) != list(FEATURE_NAMES):
            raise RiskModelError(
                f"the risk model {card.version!r} was trained on features {card.features}, "
                f"but this code computes {list(FEATURE_NAMES)}: retrain it with "
                "`paysaga risk train`"
            )
        expected = getattr(estimator, "n_features_in_", len(FEATURE_NAMES))
        if expected != len(FEATURE_NAMES):
            raise RiskModelError(
                f"the risk model {card.version!r} takes {expected} features, its card lists "
                f"{len(FEATURE_NAMES)}"
            )
        from threadpoolctl import ThreadpoolController  # comes with scikit-learn

        self._estimator = estimator
        self._card = card
        # HistGradientBoosting predicts tree by tree in OpenMP parallel regions: on one row
        # that is all synchronisation. Measured on 2 cores (1,000 calls): 0.6 ms per score
        # with 1 thread against 1.9-3.6 ms with 2, and 1.6 against 15-23 ms while two other
        # processes keep the CPUs busy. The limit is per calling thread, set for each call
        # (it costs microseconds) because the worker may score from any thread.
        self._openmp = ThreadpoolController().select(user_api="openmp")
        # The column of predict_proba that is the fraud class (label 1).
        self._fraud_column = list(getattr(estimator, "classes_", [0, 1])).index(1)
        self._trees = TreeWalk.of(estimator) if self._fraud_column == 1 else None

    @classmethod
    def load(cls, directory: str | os.PathLike[str]) -> RiskModel:
        """Read ``model.json`` and ``model.joblib`` from ``directory`` (slow: once per worker)."""
        import joblib  # the worker pays for scikit-learn's import only when a model is used

        source = Path(directory)
        card_path, model_path = source / CARD_FILE, source / MODEL_FILE
        for path in (card_path, model_path):
            if not path.is_file():
                raise RiskModelError(
                    f"no risk model in {source}: {path.name} is missing "
                    "(create one with `paysaga risk train --out DIR`)"
                )
        try:
            card = RiskModelCard.model_validate_json(card_path.read_bytes())
        except ValueError as exc:
            raise RiskModelError(f"{card_path} is not a risk model card: {exc}") from exc
        if list(card.features) != list(FEATURE_NAMES):
            # Checked before unpickling: no point loading an estimator we will refuse.
            raise RiskModelError(
                f"the risk model in {source} ({card.version}) was trained on features "
                f"{card.features}, but this code computes {list(FEATURE_NAMES)}: retrain it "
                "with `paysaga risk train`"
            )
        return cls(joblib.load(model_path), card)

    @property
    def card(self) -> RiskModelCard:
        return self._card

    @property
    def threshold(self) -> float:
        return self._card.threshold

    def score(self, features: RiskFeatures) -> float:
        """Probability that the payment is fraudulent, in [0, 1], to 6 decimals (finer is noise,
        and 16 digits in a payment's state can look like a card number to a PCI scan)."""
        row = as_row(features)
        if self._trees is not None:
            return round(self._trees.fraud_probability(row), 6)
        with self._openmp.limit(limits=1):
            probabilities = self._estimator.predict_proba(np.array([row], dtype=np.float64))
        return round(float(probabilities[0, self._fraud_column]), 6)


class TreeWalk:
    """A binary ``HistGradientBoostingClassifier``'s trees as flat lists, walked in plain
    Python for one row: ``predict_proba`` on one row spends most of its ~0.5 ms validating
    the input and entering parallel regions, while the walk takes a tenth of that.

    Exactly ``predict_proba``'s arithmetic (its Cython walk on the raw features): the same
    comparisons, missing values sent where the split sends them, and the leaf values added
    to the baseline one tree after another in the same order; ``of`` refuses any estimator
    it does not reproduce (categorical splits, several trees per iteration)."""

    def __init__(self, baseline: float, roots: list[int], nodes: list[tuple]) -> None:
        from scipy.special import expit  # predict_proba's own inverse link; with scikit-learn

        self._expit = expit
        self._baseline = baseline
        self._roots = roots
        # Per node: (is_leaf, feature, threshold, missing_goes_left, left, right, value).
        self._nodes = nodes

    @classmethod
    def of(cls, estimator: Any) -> TreeWalk | None:
        from sklearn._loss.loss import HalfBinomialLoss
        from sklearn.ensemble import HistGradientBoostingClassifier

        if type(estimator) is not HistGradientBoostingClassifier:
            return None
        if not isinstance(estimator._loss, HalfBinomialLoss):
            return None
        if estimator.is_categorical_ is not None and np.any(estimator.is_categorical_):
            return None
        baseline = estimator._baseline_prediction
        if baseline.shape != (1, 1) or any(len(trees) != 1 for trees in estimator._predictors):
            return None
        roots: list[int] = []
        nodes: list[tuple] = []
        for (predictor,) in estimator._predictors:
            offset = len(nodes)
            roots.append(offset)
            for node in predictor.nodes:
                nodes.append(
                    (
                        bool(node["is_leaf"]),
                        int(node["feature_idx"]),
                        float(node["num_threshold"]),
                        bool(node["missing_go_to_left"]),
                        offset + int(node["left"]),
                        offset + int(node["right"]),
                        float(node["value"]),
                    )
                )
        return cls(float(baseline[0, 0]), roots, nodes)

    def raw(self, row: list[float]) -> float:
        nodes = self._nodes
        total = 0.0 + self._baseline
        for index in self._roots:
            leaf, feature, threshold, missing_left, left, right, value = nodes[index]
            while not leaf:
                x = row[feature]
                if x != x:  # NaN: where the split sends missing values
                    index = left if missing_left else right
                else:
                    index = left if x <= threshold else right
                leaf, feature, threshold, missing_left, left, right, value = nodes[index]
            total += value
        return total

    def fraud_probability(self, row: list[float]) -> float:
        return float(self._expit(self.raw(row)))


def load_configured(settings: Settings) -> RiskModel | None:
    """The model in ``settings.risk_model_path()``, or None (with a warning) when there is
    none there: payments are then screened by the rules alone and score conditions never
    fire. A broken or mismatched model raises ``RiskModelError``: better a worker that does
    not start than one that silently stops scoring."""
    return load_directory(os.path.abspath(settings.risk_model_path()))


@functools.cache
def load_directory(directory: str) -> RiskModel | None:
    """``RiskModel.load`` once per directory and process (every worker built shares it)."""
    source = Path(directory)
    if not (source / CARD_FILE).exists() and not (source / MODEL_FILE).exists():
        log.warning(
            "no risk model in %s: payments are screened without a score "
            "(train one with `paysaga risk train --out %s`)",
            source,
            source,
        )
        return None
    model = RiskModel.load(source)
    log.info("risk model %s loaded from %s", model.card.version, source)
    return model
