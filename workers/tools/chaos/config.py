"""What a chaos run does, and the payments it sends (drawn from the seed up front)."""

import random
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

# The stack's timers, short so a paused payment ends within the run (ISO 8601 durations).
STACK_ENV = {
    "PAYSAGA_AUTHORIZATION_HOLD": "PT30S",
    "PAYSAGA_ACTION_TIMEOUT": "PT30S",
    # Shorter than the gateway's injected hangs: those calls become OutcomeUnknown.
    "PAYSAGA_PROVIDER_TIMEOUT": "PT2S",
    "PAYSAGA_CREATE_WAIT": "PT10S",
}
PROVIDER_TIMEOUT_MS = 2_000

# scenario: (weight, payment method, capture method)
SCENARIOS: dict[str, tuple[int, str, str]] = {
    "automatic": (35, "tok_visa", "automatic"),
    "manual_full": (10, "tok_visa", "manual"),
    "manual_partial": (10, "tok_visa", "manual"),
    "declined": (8, "tok_chargeDeclined", "automatic"),
    "insufficient_funds": (7, "tok_insufficientFunds", "automatic"),
    "three_d_secure": (15, "tok_threeDSecureRequired", "automatic"),
    "capture_fails": (10, "tok_captureFails", "automatic"),
    "capture_fails_manual": (5, "tok_captureFails", "manual"),
}

# Final statuses each scenario may end in. A hold or 3-D Secure timer that ran out while
# the worker was down is a legitimate ``expired``.
EXPECTED: dict[str, frozenset[str]] = {
    "automatic": frozenset({"succeeded"}),
    "manual_full": frozenset({"succeeded", "expired"}),
    "manual_partial": frozenset({"succeeded", "expired"}),
    "declined": frozenset({"declined"}),
    "insufficient_funds": frozenset({"declined"}),
    "three_d_secure": frozenset({"succeeded", "expired"}),
    "capture_fails": frozenset({"failed"}),
    "capture_fails_manual": frozenset({"failed", "expired"}),
}


@dataclass
class ChaosConfig:
    payments: int = 200
    rate: float = 4.0  # payments started per second (open loop)
    seed: int = 1
    worker_kills: int = 3
    server_restarts: int = 1
    faults: bool = True
    settle_seconds: float = 240.0  # after the last payment started, to reach a final state
    data_dir: Path | None = None  # None: a temporary directory, removed afterwards
    out: Path | None = None
    quiet: bool = False

    @property
    def arrival_seconds(self) -> float:
        return self.payments / self.rate

    def as_dict(self) -> dict:
        data = asdict(self)
        data["data_dir"] = str(self.data_dir) if self.data_dir else None
        data["out"] = str(self.out) if self.out else None
        return data


@dataclass
class PaymentPlan:
    index: int
    scenario: str
    amount: int
    key: str
    capture_amount: int | None = None  # manual_partial: less than the amount
    payment_id: str | None = None
    final: dict | None = field(default=None, repr=False)  # the last GET answer once final
    errors: list[str] = field(default_factory=list)

    @property
    def payment_method(self) -> str:
        return SCENARIOS[self.scenario][1]

    @property
    def capture_method(self) -> str:
        return SCENARIOS[self.scenario][2]

    def body(self) -> dict:
        return {
            "amount": self.amount,
            "currency": "USD",
            # One customer per payment: the fraud velocity rule must not decline the run.
            "customer_id": f"cus_chaos_{self.index}",
            "payment_method": self.payment_method,
            "capture_method": self.capture_method,
            "metadata": {"chaos_scenario": self.scenario},
        }


def plan_payments(config: ChaosConfig, rng: random.Random) -> list[PaymentPlan]:
    names = list(SCENARIOS)
    weights = [SCENARIOS[name][0] for name in names]
    plans = []
    for index in range(config.payments):
        # Every scenario appears at least once when there are enough payments.
        scenario = names[index] if index < len(names) else rng.choices(names, weights)[0]
        amount = rng.randint(100, 50_000)
        plan = PaymentPlan(index, scenario, amount, key=f"chaos-{config.seed}-{index}")
        if scenario == "manual_partial":
            plan.capture_amount = rng.randint(1, amount - 1)
        plans.append(plan)
    return plans
