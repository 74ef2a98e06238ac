"""One training run as ``paysaga risk train`` does it, shared with ``paysaga dev`` (which
trains a model on its first start when there is none).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from schemas.risk import RiskModelCard
from workers.tools.risk import DEFAULT_SAMPLES
from workers.tools.risk import DEFAULT_SEED
from workers.tools.risk.dataset import SyntheticDataset
from workers.tools.risk.dataset import generate
from workers.tools.risk.labels import LABEL_WEIGHT
from workers.tools.risk.labels import StoredLabels
from workers.tools.risk.training import save
from workers.tools.risk.training import train


@dataclass(frozen=True)
class TrainingRun:
    card: RiskModelCard
    out: Path
    synthetic: SyntheticDataset
    labels: StoredLabels | None
    generate_seconds: float
    train_seconds: float

    def report(self) -> list[str]:
        """What ``paysaga risk train`` prints (the held-out line is parsed by the tests)."""
        card, data = self.card, self.synthetic
        lines = [
            f"dataset: {len(data.labels)} synthetic payments (seed {card.seed}), "
            f"{int(data.labels.sum())} fraudulent ({data.fraud_rate:.2%}), "
            f"generated in {self.generate_seconds:.2f} s"
        ]
        if self.labels is not None:
            labels = self.labels
            lines.append(
                f"labels used: {labels.used} (payments with real outcomes: "
                f"{labels.fraudulent} fraud, {labels.used - labels.fraudulent} legit; "
                f"weight {LABEL_WEIGHT:g} each; {labels.stored} label rows stored, "
                f"{labels.without_features} without features skipped)"
            )
        lines += [
            f"model: {card.estimator}, trained in {self.train_seconds:.1f} s on "
            f"{card.samples - card.held_out} rows; features: {', '.join(card.features)}",
            f"threshold {card.threshold:.4f}: the highest recall with precision >= "
            f"{card.precision_target:.2f} on cross-validated training predictions",
            f"held-out: precision={card.precision:.4f} recall={card.recall:.4f} "
            f"roc_auc={card.roc_auc:.4f} threshold={card.threshold:.4f} (n={card.held_out})",
            f"saved {card.version} to {self.out}",
        ]
        return lines


def train_and_save(
    out: str | os.PathLike[str],
    samples: int = DEFAULT_SAMPLES,
    seed: int = DEFAULT_SEED,
    labels: StoredLabels | None = None,
) -> TrainingRun:
    """Generate the synthetic rows, add the stored ``labels`` (weighted ``LABEL_WEIGHT``),
    train, save into ``out``. Raises ``TrainingError``."""
    started = time.perf_counter()
    data = generate(samples, seed)
    generated = time.perf_counter()
    rows, targets, weights = data.rows, data.labels, None
    if labels is not None:
        rows = np.concatenate([data.rows, labels.rows])
        targets = np.concatenate([data.labels, labels.labels])
        weights = np.concatenate([np.ones(len(data.labels)), np.full(labels.used, LABEL_WEIGHT)])
    estimator, card = train(
        rows,
        targets,
        seed,
        source="synthetic" if labels is None else "labels",
        weights=weights,
    )
    trained = time.perf_counter()
    saved = save(out, estimator, card)
    return TrainingRun(card, saved, data, labels, generated - started, trained - generated)
