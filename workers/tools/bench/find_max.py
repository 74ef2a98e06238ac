"""Step the offered rate up until the saga stops keeping up; report the highest rate it held."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field

from workers.tools.bench.stats import PhaseResult


@dataclass
class StepPolicy:
    start_rate: float = 10.0
    rate_step: float = 10.0
    max_rate: float = 300.0
    p99_bound_ms: float = 1000.0


def bounded_latency_p99(phase: PhaseResult, bound_on_final: bool) -> float | None:
    """The p99 the bound applies to: what the caller waits for before it knows the outcome.

    For paysaga that is the POST (it answers once the payment is final or paused); for the
    baseline it is the workflow result, because starting a workflow returns before any work.
    """
    latency = phase.final_latency if bound_on_final else phase.accept_latency
    return latency.p99 if latency else None


def held(phase: PhaseResult, policy: StepPolicy, bound_on_final: bool) -> bool:
    """Sustained (≥ 95 % of offered achieved), no errors, p99 within the bound."""
    p99 = bounded_latency_p99(phase, bound_on_final)
    return phase.sustained and not phase.errors and p99 is not None and p99 <= policy.p99_bound_ms


@dataclass
class FindMaxResult:
    name: str
    steps: list[PhaseResult] = field(default_factory=list)
    max_sustained_rate: float | None = None
    stopped_because: str = ""

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "max_sustained_rate": self.max_sustained_rate,
            "stopped_because": self.stopped_because,
            "steps": [step.as_dict() for step in self.steps],
        }


async def find_max_rate(
    name: str,
    run_step: Callable[[float], Awaitable[PhaseResult]],
    policy: StepPolicy,
    bound_on_final: bool,
) -> FindMaxResult:
    result = FindMaxResult(name)
    rate = policy.start_rate
    while rate <= policy.max_rate:
        phase = await run_step(rate)
        result.steps.append(phase)
        if not held(phase, policy, bound_on_final):
            result.stopped_because = _why_not(phase, policy, bound_on_final)
            return result
        result.max_sustained_rate = rate
        rate += policy.rate_step
    result.stopped_because = f"reached --max-rate {policy.max_rate:g}/s"
    return result


def _why_not(phase: PhaseResult, policy: StepPolicy, bound_on_final: bool) -> str:
    at = f"at {phase.offered_rate:g}/s"
    if phase.errors:
        return f"errors {at}: {phase.errors}"
    p99 = bounded_latency_p99(phase, bound_on_final)
    if p99 is None or p99 > policy.p99_bound_ms:
        return f"p99 {p99} ms > {policy.p99_bound_ms:g} ms {at}"
    return f"achieved {phase.achieved_rate:g}/s < 95 % of offered {at}"
