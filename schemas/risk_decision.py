"""The fraud check's decision on one payment, kept in the payment's state."""

from pydantic import BaseModel
from pydantic import Field

from schemas.risk import RiskFeatures
from schemas.risk_rules import RiskAction


class FiredRule(BaseModel):
    id: str
    action: RiskAction
    description: str | None = None


class RiskDecision(BaseModel):
    """What the fraud check decided, and why: kept in the payment's state (``risk``)."""

    action: RiskAction
    # The fired rule that decided (the first by action precedence); None when none fired.
    rule: str | None = None
    reason: str | None = None
    fired: list[FiredRule] = Field(default_factory=list)
    # The model's probability of fraud; None when no model is loaded.
    score: float | None = None
    model_version: str | None = None
    # The tenant's rule set version the decision was taken under (0: none posted; the
    # platform's rules apply under every version).
    rules_version: int | None = None
    # What the model was given; kept so an operator's verdict can become a training label.
    features: RiskFeatures | None = None
