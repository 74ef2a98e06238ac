"""Contracts of the risk model: the features one payment is scored on, and the
card saved next to a trained model.

The model takes the features as one row of floats in the order of ``FEATURE_NAMES``; a model
whose card lists other features (or another order) is refused at load time, so a worker never
scores payments with columns shifted under it. Money stays in integer minor units
(``velocity_amount_1h``); only the model's row is made of floats.
"""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictInt


class RiskFeatures(BaseModel):
    """What the fraud check knows about one payment, computed before it is authorized."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount_zscore: float = Field(
        allow_inf_nan=False,
        description="the amount's z-score against the customer's past amounts; "
        "0 for a customer with fewer than 2 past payments",
    )
    velocity_count_1h: int = Field(ge=0, description="the customer's payments in the last hour")
    velocity_amount_1h: StrictInt = Field(
        ge=0, description="sum of those payments, integer minor units"
    )
    new_customer: bool = Field(description="no earlier payment from this customer")
    country_mismatch: bool = Field(description="the card's country differs from the IP's country")
    hour_of_day: int = Field(ge=0, le=23, description="hour of the payment, UTC")
    failed_attempts_24h: int = Field(ge=0, description="the customer's failed attempts, last 24 h")


# The order the model takes its columns in. Changing it (or adding a feature) means
# retraining: RiskModel.load refuses a model whose card lists anything else.
FEATURE_NAMES: tuple[str, ...] = (
    "amount_zscore",
    "velocity_count_1h",
    "velocity_amount_1h",
    "new_customer",
    "country_mismatch",
    "hour_of_day",
    "failed_attempts_24h",
)


def as_row(features: RiskFeatures) -> list[float]:
    """The model's input row, in ``FEATURE_NAMES`` order (booleans as 0.0 / 1.0)."""
    return [float(getattr(features, name)) for name in FEATURE_NAMES]


class RiskModelCard(BaseModel):
    """Saved as ``model.json`` next to ``model.joblib``: what the model is and how good it is.

    ``precision``, ``recall`` and ``roc_auc`` are measured on the ``held_out`` rows, which
    took no part in training nor in choosing ``threshold`` (the operating point: a payment
    with ``score >= threshold`` is predicted fraudulent).
    """

    model_config = ConfigDict(extra="forbid")

    version: str
    features: list[str]
    trained_at: datetime
    samples: int = Field(ge=0, description="labelled rows used, training and held-out together")
    held_out: int = Field(ge=0, description="rows kept aside for the reported metrics")
    threshold: float = Field(ge=0, le=1)
    precision: float = Field(ge=0, le=1)
    recall: float = Field(ge=0, le=1)
    roc_auc: float = Field(ge=0, le=1)
    source: Literal["synthetic", "labels"]
    seed: int
    precision_target: float = Field(
        default=0.80, ge=0, le=1, description="the precision the threshold was chosen for"
    )
    estimator: str = Field(default="", description="estimator class and library version")
