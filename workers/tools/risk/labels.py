"""The stored real outcomes (``risk_labels``) as training rows for ``paysaga risk train --labels``.

One row per payment, whatever its number of labels: a payment is fraudulent when any of its
labels says so (a dispute on a payment an operator approved means the operator was wrong).
Labels without features (payments scored before the features were kept) cannot train the
model and are counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine
from sqlalchemy import select

from schemas.risk import FEATURE_NAMES
from schemas.risk import RiskFeatures
from schemas.risk import as_row
from schemas.store.tables import RiskLabelRecord

# How much one real outcome weighs against one synthetic row when fitting. Real labels are
# few next to the 50,000 synthetic rows; at weight 1 a few hundred of them would barely move
# the model, while a large weight would let a handful of mistaken verdicts (or a dispute
# that was really a delivery problem) outweigh thousands of rows. At 5, 200 labels count
# like 1,000 synthetic payments. The threshold and the held-out metrics stay unweighted:
# each payment counts once, as it does when the model is used.
LABEL_WEIGHT = 5.0


@dataclass(frozen=True)
class StoredLabels:
    rows: np.ndarray  # (payments, len(FEATURE_NAMES))
    labels: np.ndarray  # 1 = fraud
    stored: int  # label rows in the table
    without_features: int  # of which unusable (no features)

    @property
    def used(self) -> int:
        return len(self.labels)

    @property
    def fraudulent(self) -> int:
        return int(self.labels.sum())


def load_labels(engine: Engine) -> StoredLabels:
    with engine.connect() as connection:
        stored = connection.execute(
            select(
                RiskLabelRecord.tenant_id,
                RiskLabelRecord.payment_id,
                RiskLabelRecord.fraud,
                RiskLabelRecord.features_json,
            ).order_by(RiskLabelRecord.id)
        ).all()
    payments: dict[tuple[str, str], tuple[list[float], bool]] = {}
    without_features = 0
    for tenant, payment, fraud, features_json in stored:
        if features_json is None:
            without_features += 1
            continue
        row = as_row(RiskFeatures.model_validate_json(features_json))
        _, known_fraud = payments.get((tenant, payment), (row, False))
        payments[(tenant, payment)] = (row, known_fraud or bool(fraud))
    rows = np.array([row for row, _ in payments.values()], dtype=np.float64)
    labels = np.array([int(fraud) for _, fraud in payments.values()], dtype=np.int8)
    return StoredLabels(
        rows=rows.reshape(len(payments), len(FEATURE_NAMES)),
        labels=labels,
        stored=len(stored),
        without_features=without_features,
    )
