"""Risk rule evaluation (activities/risk/rules.py), table-driven: each predicate, each
operator, each action and their precedence. Pure logic: velocity comes from a fake source
that records the questions asked."""

from dataclasses import replace
from datetime import timedelta
from ipaddress import ip_address

import pytest

from activities.risk.rules import PaymentFacts
from activities.risk.rules import RuleEvaluator
from activities.risk.rules import describe
from activities.risk.rules import evaluate
from schemas.risk_decision import FiredRule
from schemas.risk_rules import FraudRules
from schemas.risk_rules import RiskRuleSet
from schemas.risk_rules import default_rule_set

FACTS = PaymentFacts(
    amount=5_000,
    currency="USD",
    customer_id="cus_1",
    payment_method="tok_visa",
    card_fingerprint="fp_1",
    card_country="US",
    ip_country="FR",
    ip_address=ip_address("203.0.113.7"),
    new_customer=True,
    country_mismatch=True,
    failed_attempts_24h=2,
    score=0.42,
)
LISTS = {
    "vip": ["cus_1", "cus_2"],
    "bad_nets": ["198.51.100.0/24", "203.0.113.0/25"],
    "fps": ["fp_1"],
}


class FakeVelocity:
    def __init__(self, answers: dict[tuple[str, str, timedelta], int] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[tuple[str, str, timedelta]] = []

    def __call__(self, by, measure, window) -> int:
        self.asked.append((by, measure, window))
        return self.answers.get((by, measure, window), 0)


def rule_set(*rules: dict, lists: dict | None = None, version: int = 3) -> RiskRuleSet:
    return RiskRuleSet.model_validate(
        {"rules": list(rules), "lists": LISTS if lists is None else lists, "version": version}
    )


def single(condition: dict, action: str = "block") -> RiskRuleSet:
    return rule_set({"id": "r", "action": action, "when": [condition]})


def fires(condition: dict, facts: PaymentFacts = FACTS, velocity=None) -> bool:
    decision = evaluate(single(condition), facts, velocity or FakeVelocity())
    return [fired.id for fired in decision.fired] == ["r"]


def amount(op, value):
    return {"field": "amount", "op": op, "value": value}


@pytest.mark.parametrize(
    ("op", "holds_for", "fails_for"),
    [
        ("gt", 4_999, 5_000),
        ("gte", 5_000, 5_001),
        ("lt", 5_001, 5_000),
        ("lte", 5_000, 4_999),
        ("eq", 5_000, 5_001),
        ("ne", 5_001, 5_000),
    ],
)
def test_amount_comparisons(op, holds_for, fails_for):
    """Against the amount 5000: each operator with a value it holds for and one it fails for."""
    assert fires(amount(op, holds_for)) is True
    assert fires(amount(op, fails_for)) is False


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # score 0.42
        ({"field": "score", "op": "gte", "value": 0.42}, True),
        ({"field": "score", "op": "gt", "value": 0.42}, False),
        ({"field": "score", "op": "lt", "value": 0.5}, True),
        # failed_attempts_24h 2
        ({"field": "failed_attempts_24h", "op": "gte", "value": 2}, True),
        ({"field": "failed_attempts_24h", "op": "gt", "value": 2}, False),
        ({"field": "failed_attempts_24h", "op": "eq", "value": 0}, False),
        # flags
        ({"field": "new_customer", "value": True}, True),
        ({"field": "new_customer", "value": False}, False),
        ({"field": "country_mismatch", "value": True}, True),
        ({"field": "country_mismatch", "value": False}, False),
    ],
    ids=lambda value: (
        str(value) if not isinstance(value, dict) else "-".join(str(v) for v in value.values())
    ),
)
def test_comparisons_and_flags(condition, expected):
    assert fires(condition) is expected


@pytest.mark.parametrize(
    ("field", "op", "source", "expected"),
    [
        ("currency", "in", {"values": ["USD", "EUR"]}, True),
        ("currency", "in", {"values": ["EUR"]}, False),
        ("currency", "not_in", {"values": ["EUR"]}, True),
        ("currency", "not_in", {"values": ["USD"]}, False),
        ("customer_id", "in", {"list": "vip"}, True),
        ("customer_id", "not_in", {"list": "vip"}, False),
        ("customer_id", "in", {"values": ["cus_10"]}, False),  # exact, not a prefix
        ("payment_method", "in", {"values": ["tok_visa"]}, True),
        ("payment_method", "in", {"values": ["tok_blocked"]}, False),
        ("card_fingerprint", "in", {"list": "fps"}, True),
        ("card_fingerprint", "not_in", {"values": ["fp_2"]}, True),
        ("card_country", "in", {"values": ["US"]}, True),
        ("card_country", "in", {"values": ["FR"]}, False),
        ("ip_country", "in", {"values": ["FR", "DE"]}, True),
        ("ip_country", "not_in", {"values": ["FR"]}, False),
        # ip 203.0.113.7: containment in networks, addresses match themselves only
        ("ip_address", "in", {"values": ["203.0.113.7"]}, True),
        ("ip_address", "in", {"values": ["203.0.113.8"]}, False),
        ("ip_address", "in", {"values": ["203.0.113.0/24"]}, True),
        ("ip_address", "in", {"values": ["203.0.113.128/25"]}, False),
        ("ip_address", "in", {"values": ["10.0.0.0/8", "203.0.0.0/16"]}, True),
        ("ip_address", "in", {"values": ["0.0.0.0/0"]}, True),
        ("ip_address", "in", {"values": ["::/0"]}, False),  # another family
        ("ip_address", "in", {"list": "bad_nets"}, True),
        ("ip_address", "not_in", {"list": "bad_nets"}, False),
        ("ip_address", "not_in", {"values": ["198.51.100.0/24"]}, True),
    ],
)
def test_membership(field, op, source, expected):
    assert fires({"field": field, "op": op} | source) is expected


@pytest.mark.parametrize(
    ("network", "address", "expected"),
    [
        ("2001:db8::/32", "2001:db8:1::5", True),
        ("2001:db8::/32", "2001:db9::5", False),
        ("2001:db8::5", "2001:db8::5", True),
        # a dual-stack socket reports an IPv4 client as ::ffff:a.b.c.d
        ("10.0.0.0/8", "::ffff:10.1.2.3", True),
        ("::ffff:10.0.0.0/104", "10.1.2.3", True),
        ("10.0.0.0/8", "::ffff:11.1.2.3", False),
    ],
)
def test_ip_containment_across_families(network, address, expected):
    facts = replace(FACTS, ip_address=ip_address(address))
    assert fires({"field": "ip_address", "op": "in", "values": [network]}, facts) is expected


@pytest.mark.parametrize("field", ["card_fingerprint", "card_country", "ip_country", "ip_address"])
def test_a_missing_field_is_in_no_list(field):
    facts = replace(FACTS, **{field: None})
    value = "10.0.0.0/8" if field == "ip_address" else "US"
    assert not fires({"field": field, "op": "in", "values": [value]}, facts)
    assert fires({"field": field, "op": "not_in", "values": [value]}, facts)


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte", "eq", "ne"])
def test_score_conditions_never_fire_without_a_model(op):
    facts = replace(FACTS, score=None)
    assert not fires({"field": "score", "op": op, "value": 0.5}, facts)
    assert fires({"field": "score", "op": op, "value": 0.5}) is (
        op in ("lt", "lte", "ne")  # 0.42 against 0.5
    )


HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def velocity(by="customer", measure="count", window=HOUR, op="gte", value=3):
    return {
        "field": "velocity",
        "by": by,
        "measure": measure,
        "window": window,
        "op": op,
        "value": value,
    }


@pytest.mark.parametrize(
    ("condition", "answers", "expected"),
    [
        (velocity(), {("customer", "count", HOUR): 3}, True),
        (velocity(), {("customer", "count", HOUR): 2}, False),
        (velocity(window=DAY), {("customer", "count", HOUR): 5}, False),  # another window
        (velocity(measure="amount", value=10_000), {("customer", "amount", HOUR): 10_000}, True),
        (velocity(measure="amount", value=10_000), {("customer", "count", HOUR): 99_999}, False),
        (velocity(by="card_fingerprint"), {("card_fingerprint", "count", HOUR): 4}, True),
        (velocity(by="card_fingerprint"), {("customer", "count", HOUR): 4}, False),
        (velocity(op="lt", value=1), {}, True),
    ],
)
def test_velocity(condition, answers, expected):
    source = FakeVelocity(answers)
    assert fires(condition, velocity=source) is expected
    assert source.asked == [(condition["by"], condition["measure"], condition["window"])]


def test_velocity_by_card_never_matches_a_payment_without_a_fingerprint():
    source = FakeVelocity({("card_fingerprint", "count", HOUR): 100})
    facts = replace(FACTS, card_fingerprint=None)

    assert not fires(velocity(by="card_fingerprint", op="gte", value=0), facts, source)
    assert not fires(velocity(by="card_fingerprint", op="lt", value=5), facts, source)
    assert source.asked == []


def test_velocity_is_asked_once_per_question_and_only_when_needed():
    rules = rule_set(
        {"id": "a", "action": "review", "when": [velocity(value=1)]},
        {"id": "b", "action": "block", "when": [velocity(value=2), amount("gt", 1)]},
        {"id": "c", "action": "block", "when": [amount("gt", 10**9), velocity(window=DAY)]},
        {"id": "d", "action": "review", "when": [velocity(measure="amount", value=1)]},
    )
    source = FakeVelocity({("customer", "count", HOUR): 2})

    decision = evaluate(rules, FACTS, source)

    assert [fired.id for fired in decision.fired] == ["a", "b"]
    # c's amount fails first, so its one-day window is never asked for.
    assert source.asked == [("customer", "count", HOUR), ("customer", "amount", HOUR)]


def test_every_condition_must_hold():
    rules = rule_set(
        {
            "id": "large_usd",
            "action": "review",
            "when": [{"field": "currency", "op": "in", "values": ["USD"]}, amount("gte", 5_000)],
        }
    )
    assert evaluate(rules, FACTS, FakeVelocity()).action == "review"
    assert evaluate(rules, replace(FACTS, currency="EUR"), FakeVelocity()).action == "allow"
    assert evaluate(rules, replace(FACTS, amount=4_999), FakeVelocity()).action == "allow"


def always(rule_id: str, action: str, description: str | None = None) -> dict:
    rule = {"id": rule_id, "action": action, "when": [amount("gte", 0)]}
    return rule | ({"description": description} if description else {})


@pytest.mark.parametrize(
    ("actions", "decided"),
    [
        ([], "allow"),
        (["block"], "block"),
        (["review"], "review"),
        (["require_3ds"], "require_3ds"),
        (["allow"], "allow"),
        (["require_3ds", "review"], "review"),
        (["review", "block", "require_3ds"], "block"),
        (["block", "allow"], "allow"),  # an allowlist beats every block
        (["require_3ds", "allow", "review"], "allow"),
    ],
)
def test_action_precedence(actions, decided):
    rules = rule_set(*(always(f"r{n}", action) for n, action in enumerate(actions)))

    decision = evaluate(rules, FACTS, FakeVelocity())

    assert decision.action == decided
    assert [fired.action for fired in decision.fired] == actions
    if actions:
        assert decision.rule == f"r{actions.index(decided)}"
        assert decision.reason
    else:
        assert (decision.rule, decision.reason) == (None, None)


def test_the_first_fired_rule_of_the_winning_action_decides_with_its_description():
    rules = rule_set(
        always("small", "review", "any payment"),
        always("first_block", "block", "the first block"),
        always("second_block", "block", "the second block"),
    )

    decision = evaluate(rules, FACTS, FakeVelocity())

    assert (decision.action, decision.rule, decision.reason) == (
        "block",
        "first_block",
        "the first block",
    )
    assert decision.fired == [
        FiredRule(id="small", action="review", description="any payment"),
        FiredRule(id="first_block", action="block", description="the first block"),
        FiredRule(id="second_block", action="block", description="the second block"),
    ]
    assert decision.rules_version == 3
    assert decision.score == FACTS.score


def test_a_rule_without_description_is_described_by_its_conditions():
    rules = rule_set(
        {
            "id": "testing",
            "action": "block",
            "when": [
                {"field": "currency", "op": "in", "values": ["USD"]},
                velocity(by="card_fingerprint", window=timedelta(minutes=10), value=5),
            ],
        }
    )
    answers = {("card_fingerprint", "count", timedelta(minutes=10)): 5}

    decision = evaluate(rules, FACTS, FakeVelocity(answers))

    assert decision.reason == "block: currency in USD and count by card in 10 min >= 5"
    assert decision.fired[0].description == decision.reason
    assert describe(rules.rules[0]) == decision.reason


def test_disabled_rules_never_fire():
    rules = rule_set(
        always("off", "block") | {"enabled": False},
        always("on", "review"),
        {"id": "off_velocity", "action": "block", "enabled": False, "when": [velocity()]},
    )
    source = FakeVelocity()

    decision = evaluate(rules, FACTS, source)

    assert (decision.action, [f.id for f in decision.fired]) == ("review", ["on"])
    assert source.asked == []


def test_the_default_rule_set_blocks_like_the_settings_rules():
    rules = default_rule_set(
        FraudRules(
            amount_ceiling={"USD": 10_000},
            blocked_customers=["cus_bad"],
            blocked_payment_methods=["tok_blocked"],
            velocity_max_payments=3,
            velocity_window=timedelta(minutes=10),
        )
    )
    evaluator = RuleEvaluator(rules)
    busy = FakeVelocity({("customer", "count", timedelta(minutes=10)): 3})

    def decided(facts, source=None):
        decision = evaluator.evaluate(facts, source or FakeVelocity())
        return decision.action, decision.rule

    assert decided(FACTS) == ("allow", None)
    assert decided(replace(FACTS, amount=10_001)) == ("block", "amount_ceiling_usd")
    assert decided(replace(FACTS, amount=10_001, currency="EUR")) == ("allow", None)
    assert decided(replace(FACTS, customer_id="cus_bad")) == ("block", "blocked_customer")
    assert decided(replace(FACTS, payment_method="tok_blocked")) == (
        "block",
        "blocked_payment_method",
    )
    assert decided(FACTS, busy) == ("block", "velocity")
    assert evaluator.evaluate(FACTS, FakeVelocity()).rules_version == 0
