"""Evaluation of a tenant's risk rules (schemas.risk_rules) against one payment.

Pure: the payment is described by ``PaymentFacts`` and velocity questions are answered by a
``VelocitySource`` (the fraud check's SQL, a fake in tests), so the same facts and answers
always give the same decision. The platform's rules (version 0) are evaluated for every
tenant, and a tenant's own set on top of them (``under_floor``). ``RuleEvaluator`` prepares
a rule set once (lists as sets, IP lists as networks by prefix length); the fraud check
keeps one per stored rule set version.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from ipaddress import IPv4Address
from ipaddress import IPv6Address
from ipaddress import ip_address
from ipaddress import ip_network
from typing import Literal
from typing import Protocol

from schemas.risk_decision import FiredRule
from schemas.risk_decision import RiskDecision
from schemas.risk_rules import ACTION_PRECEDENCE
from schemas.risk_rules import AmountCondition
from schemas.risk_rules import Condition
from schemas.risk_rules import CountCondition
from schemas.risk_rules import FlagCondition
from schemas.risk_rules import MemberCondition
from schemas.risk_rules import RiskRule
from schemas.risk_rules import RiskRuleSet
from schemas.risk_rules import ScoreCondition
from schemas.risk_rules import VelocityCondition

VelocityBy = Literal["customer", "card_fingerprint"]
VelocityMeasure = Literal["count", "amount"]
IpAddress = IPv4Address | IPv6Address

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "ne": operator.ne,
}
_SYMBOLS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=", "ne": "!="}


class VelocitySource(Protocol):
    def __call__(self, by: VelocityBy, measure: VelocityMeasure, window: timedelta) -> int:
        """How many payments (``count``) or how much money (``amount``, minor units of the
        payment's currency) the payment's customer or card sent within ``window`` before it,
        the payment itself excluded."""
        ...


@dataclass(frozen=True)
class PaymentFacts:
    """What rules may ask about one payment. ``None``: the client did not say (or no model)."""

    amount: int
    currency: str
    customer_id: str
    payment_method: str
    card_fingerprint: str | None = None
    card_country: str | None = None
    ip_country: str | None = None
    ip_address: IpAddress | None = None
    new_customer: bool = False
    country_mismatch: bool = False
    failed_attempts_24h: int = 0
    score: float | None = None


class _IpSet:
    """Addresses and CIDR networks; membership is containment, one set lookup per prefix
    length present (a 10,000-entry blocklist costs what a handful of lookups cost)."""

    def __init__(self, values: list[str]) -> None:
        self._prefixes: dict[tuple[int, int], set[int]] = {}
        for value in values:
            network = _unmapped_network(value)
            key = (network.version, network.prefixlen)
            shift = network.max_prefixlen - network.prefixlen
            self._prefixes.setdefault(key, set()).add(int(network.network_address) >> shift)

    def __contains__(self, address: IpAddress) -> bool:
        address = _unmapped(address)
        bits = address.max_prefixlen
        for (version, prefixlen), networks in self._prefixes.items():
            if version == address.version and int(address) >> (bits - prefixlen) in networks:
                return True
        return False


def _unmapped(address: IpAddress) -> IpAddress:
    # ::ffff:10.0.0.1 is the IPv4 client 10.0.0.1 seen through a dual-stack socket.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmapped_network(value: str):
    network = ip_network(value, strict=False)
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if mapped is not None and network.prefixlen >= 96:
        return ip_network(f"{mapped}/{network.prefixlen - 96}", strict=False)
    return network


class RuleEvaluator:
    """One rule set, prepared for evaluating many payments."""

    def __init__(self, rule_set: RiskRuleSet) -> None:
        self.rule_set = rule_set
        self._members: dict[int, frozenset[str] | _IpSet] = {}
        self._rules: list[tuple[RiskRule, list[Condition], str]] = []
        for rule in rule_set.rules:
            if not rule.enabled:
                continue
            for condition in rule.when:
                if isinstance(condition, MemberCondition):
                    self._members[id(condition)] = self._member_set(condition)
            # Conditions are ANDed and pure: asking SQL about velocity last means it is
            # asked only when every other condition already holds.
            conditions = sorted(rule.when, key=lambda c: isinstance(c, VelocityCondition))
            self._rules.append((rule, conditions, rule.description or describe(rule)))

    def _member_set(self, condition: MemberCondition) -> frozenset[str] | _IpSet:
        values = (
            condition.values
            if condition.values is not None
            else self.rule_set.lists[condition.list or ""]
        )
        return _IpSet(values) if condition.field == "ip_address" else frozenset(values)

    def evaluate(self, facts: PaymentFacts, velocity: VelocitySource) -> RiskDecision:
        """Every enabled rule whose conditions all hold fires; the decision is the action of
        the fired rule first in ``ACTION_PRECEDENCE`` (allow when none fired)."""
        answers: dict[tuple[str, str, timedelta], int] = {}

        def cached_velocity(by: VelocityBy, measure: VelocityMeasure, window: timedelta) -> int:
            key = (by, measure, window)
            if key not in answers:
                answers[key] = velocity(by, measure, window)
            return answers[key]

        fired = [
            FiredRule(id=rule.id, action=rule.action, description=reason)
            for rule, conditions, reason in self._rules
            if all(self._holds(c, facts, cached_velocity) for c in conditions)
        ]
        deciding = min(fired, key=lambda f: ACTION_PRECEDENCE.index(f.action), default=None)
        return RiskDecision(
            action=deciding.action if deciding else "allow",
            rule=deciding.id if deciding else None,
            reason=deciding.description if deciding else None,
            fired=fired,
            score=facts.score,
            rules_version=self.rule_set.version,
        )

    def _holds(self, condition: Condition, facts: PaymentFacts, velocity: VelocitySource) -> bool:
        match condition:
            case AmountCondition(op=op, value=value):
                return COMPARISONS[op](facts.amount, value)
            case ScoreCondition(op=op, value=value):
                return facts.score is not None and COMPARISONS[op](facts.score, value)
            case CountCondition(op=op, value=value):
                return COMPARISONS[op](facts.failed_attempts_24h, value)
            case FlagCondition(field=field, value=value):
                return getattr(facts, field) is value
            case MemberCondition(field=field, op=op):
                present = getattr(facts, field)
                inside = present is not None and present in self._members[id(condition)]
                return inside if op == "in" else not inside
            case VelocityCondition(by=by, measure=measure, window=window, op=op, value=value):
                if by == "card_fingerprint" and facts.card_fingerprint is None:
                    return False  # no card to follow: it matches nothing
                return COMPARISONS[op](velocity(by, measure, window), value)
        raise TypeError(f"unknown condition {condition!r}")


def under_floor(floor: RiskDecision, own: RiskDecision) -> RiskDecision:
    """A tenant's decision (``own``) with the platform's rules (``floor``, version 0) under
    it: a platform block decides whatever the tenant's rules say, allow rules included, so a
    tenant can only be stricter. Every fired rule of both is kept, the platform's first; the
    version is the tenant's."""
    fired = [*floor.fired, *own.fired]
    if floor.action == "block":
        return floor.model_copy(update={"fired": fired, "rules_version": own.rules_version})
    return own.model_copy(update={"fired": fired})


def evaluate(rule_set: RiskRuleSet, facts: PaymentFacts, velocity: VelocitySource) -> RiskDecision:
    """Evaluate ``rule_set`` once (prefer a kept ``RuleEvaluator`` for many payments)."""
    return RuleEvaluator(rule_set).evaluate(facts, velocity)


def describe(rule: RiskRule) -> str:
    """A sentence for a rule without a description: ``amount > 10000 and currency in USD``."""
    return f"{rule.action}: " + " and ".join(_describe(c) for c in rule.when)


def _describe(condition: Condition) -> str:
    match condition:
        case AmountCondition() | ScoreCondition() | CountCondition():
            return f"{condition.field} {_SYMBOLS[condition.op]} {condition.value}"
        case FlagCondition(field=field, value=value):
            return field if value else f"not {field}"
        case MemberCondition(field=field, op=op, values=values, list=named):
            if values is None:
                return f"{field} {op.replace('_', ' ')} list {named}"
            shown = ", ".join(values[:3]) + (", ..." if len(values) > 3 else "")
            return f"{field} {op.replace('_', ' ')} {shown}"
        case VelocityCondition(by=by, measure=measure, window=window, op=op, value=value):
            by_what = "customer" if by == "customer" else "card"
            return f"{measure} by {by_what} in {_duration(window)} {_SYMBOLS[op]} {value}"
    raise TypeError(f"unknown condition {condition!r}")


def _duration(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def parse_ip(value: object) -> IpAddress | None:
    """The signals' IP (already validated) as an address object, or None."""
    return None if value is None else ip_address(str(value))
