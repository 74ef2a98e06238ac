"""Fault injection: latency, errors before applying, and hangs after applying.

Set through ``PUT /v1/faults`` or at startup (``--faults`` / ``SANDBOX_FAULTS``). Decisions
come from a seeded ``random.Random`` so a run with the same seed injects the same faults.
Only touched from the event loop, so no lock is needed.
"""

import random
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

Operation = Literal[
    "charge",
    "capture",
    "void",
    "refund",
    "confirm",
    "transfer",
    "transfer_reversal",
    "payout",
    "account",
    "customer",
    "attach_method",
    "detach_method",
]


class FaultConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(default=0, ge=0, le=600_000)
    # Answer 503 before anything is applied.
    error_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    fail_next: int = Field(default=0, ge=0)
    # Apply and commit, then sleep ``hang_ms`` before answering.
    timeout_after_apply_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    timeout_next: int = Field(default=0, ge=0)
    hang_ms: int = Field(default=30_000, ge=0, le=600_000)
    operations: list[Operation] | None = None  # None: every money-moving operation


class Faults:
    def __init__(self, config: FaultConfig | None = None, seed: int | None = None) -> None:
        self._config = config or FaultConfig()
        self._random = random.Random(seed)

    @property
    def config(self) -> FaultConfig:
        return self._config.model_copy()

    def set(self, config: FaultConfig) -> FaultConfig:
        self._config = config.model_copy()
        return self.config

    def reset(self) -> FaultConfig:
        return self.set(FaultConfig())

    def _matches(self, operation: Operation) -> bool:
        ops = self._config.operations
        return ops is None or operation in ops

    def latency_seconds(self, operation: Operation) -> float:
        if not self._matches(operation):
            return 0.0
        return self._config.latency_ms / 1000

    def fail_before_apply(self, operation: Operation) -> bool:
        if not self._matches(operation):
            return False
        if self._config.fail_next > 0:
            self._config.fail_next -= 1
            return True
        return self._chance(self._config.error_rate)

    def hang_after_apply_seconds(self, operation: Operation) -> float:
        """Seconds to hang before answering an operation that was just applied (0: none)."""
        if not self._matches(operation):
            return 0.0
        if self._config.timeout_next > 0:
            self._config.timeout_next -= 1
            return self._config.hang_ms / 1000
        if self._chance(self._config.timeout_after_apply_rate):
            return self._config.hang_ms / 1000
        return 0.0

    def _chance(self, rate: float) -> bool:
        return rate > 0 and self._random.random() < rate
