"""FraudActivities.screen_payment called directly against SQLite and PostgreSQL: the default
rules, tenants' rule sets, velocity from real rows (also under concurrent screenings), the
model's score and what the decision records."""

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine
from sqlmodel import Session

from activities.risk.model import RiskModel
from activities.risk.model import RiskModelError
from activities.risk.model import TreeWalk
from activities.risk.model import load_configured
from activities.risk.model import load_directory
from activities.risk.screening import FraudActivities
from schemas.fraud import ScreeningCommand
from schemas.fraud import ScreeningDecision
from schemas.payments import PaymentState
from schemas.risk import FEATURE_NAMES
from schemas.risk_decision import FiredRule
from schemas.risk_rules import FraudRules
from schemas.risk_rules import RiskRuleSetDocument
from schemas.risk_signals import RiskSignals
from schemas.runtime.settings import Settings
from schemas.store.database import make_engine
from schemas.store.risk_rules import save_rule_set
from schemas.store.tables import PaymentRecord
from tests.support.payments import processing_state

TENANT = "ten_fraud"
WINDOW = timedelta(minutes=10)
MAX_PAYMENTS = 3

RULES = FraudRules(
    amount_ceiling={"USD": 10_000, "EUR": 5_000},
    blocked_customers=["cus_blocked"],
    blocked_payment_methods=["tok_blocked", "pm_stolen"],
    velocity_max_payments=MAX_PAYMENTS,
    velocity_window=WINDOW,
)

# Platform rules out of the way of tests about a tenant's own rules, which apply on top.
LOW_FLOOR = FraudRules(
    amount_ceiling={}, blocked_payment_methods=[], velocity_max_payments=1_000_000
)


def payment_state(**overrides) -> PaymentState:
    return processing_state(**({"tenant_id": TENANT, "amount": 2000} | overrides))


def screen(
    engine: Engine,
    state: PaymentState,
    payment_method: str = "tok_visa",
    signals: RiskSignals | None = None,
    model: RiskModel | None = None,
    platform_rules: FraudRules = RULES,
) -> ScreeningDecision:
    command = ScreeningCommand(
        state=state, payment_method=payment_method, signals=signals or RiskSignals()
    )
    return FraudActivities(engine, platform_rules, model).screen_payment(command)


def read_model_row(engine: Engine, payment_id: str) -> PaymentRecord | None:
    with Session(engine) as session:
        return session.get(PaymentRecord, payment_id)


def assert_blocked(decision: ScreeningDecision, rule: str) -> None:
    assert decision.action == "block"
    assert decision.rule == rule
    assert decision.reason
    assert rule in [fired.id for fired in decision.fired]


def save_rules(engine: Engine, *rules: dict, lists: dict | None = None, tenant: str = TENANT):
    document = RiskRuleSetDocument.model_validate({"rules": list(rules), "lists": lists or {}})
    with engine.begin() as connection:
        return save_rule_set(connection, tenant, document)


def velocity_rule(rule_id, by, measure, value, action="block", window=timedelta(hours=1)):
    condition = {"field": "velocity", "by": by, "measure": measure, "window": window}
    return {"id": rule_id, "action": action, "when": [condition | {"op": "gte", "value": value}]}


# ------------------------------------------------------------------ the default rule set


def test_an_allowed_payment_is_recorded_as_processing(database_engine: Engine):
    state = payment_state()

    decision = screen(database_engine, state)

    assert (decision.action, decision.rule, decision.reason, decision.fired) == (
        "allow",
        None,
        None,
        [],
    )
    assert (decision.rules_version, decision.score, decision.model_version) == (0, None, None)
    assert decision.features is not None
    assert decision.features.new_customer is True
    row = read_model_row(database_engine, state.payment_id)
    assert row is not None
    assert (row.tenant_id, row.status, row.customer_id, row.amount, row.currency) == (
        TENANT,
        "processing",
        state.customer_id,
        2000,
        "USD",
    )
    assert PaymentState.model_validate_json(row.state_json) == state


@pytest.mark.parametrize(
    ("amount", "currency", "rule"),
    [
        pytest.param(10_000, "USD", None, id="usd-at-ceiling"),
        pytest.param(10_001, "USD", "amount_ceiling_usd", id="usd-above-ceiling"),
        pytest.param(5_001, "EUR", "amount_ceiling_eur", id="eur-has-its-own-ceiling"),
        pytest.param(5_000, "EUR", None, id="eur-at-ceiling"),
        pytest.param(10**9, "GBP", None, id="no-ceiling-for-gbp"),
    ],
)
def test_amount_ceiling_per_currency(database_engine: Engine, amount, currency, rule):
    decision = screen(database_engine, payment_state(amount=amount, currency=currency))

    if rule is None:
        assert (decision.action, decision.rule) == ("allow", None)
    else:
        assert_blocked(decision, rule)
        assert currency in (decision.reason or "")


def test_blocked_customer(database_engine: Engine):
    state = payment_state(customer_id="cus_blocked")

    assert_blocked(screen(database_engine, state), "blocked_customer")
    # Screened payments are recorded whatever the decision; the workflow then declines it.
    row = read_model_row(database_engine, state.payment_id)
    assert row is not None
    assert row.status == "processing"
    assert screen(database_engine, payment_state(customer_id="cus_fine")).action == "allow"


@pytest.mark.parametrize("payment_method", ["tok_blocked", "pm_stolen"])
def test_blocked_payment_method(database_engine: Engine, payment_method):
    decision = screen(database_engine, payment_state(), payment_method=payment_method)

    assert_blocked(decision, "blocked_payment_method")


def test_every_fired_rule_is_recorded_and_the_first_decides(database_engine: Engine):
    state = payment_state(amount=20_000, customer_id="cus_blocked")

    decision = screen(database_engine, state, "tok_blocked")

    assert_blocked(decision, "amount_ceiling_usd")
    assert [fired.id for fired in decision.fired] == [
        "amount_ceiling_usd",
        "blocked_customer",
        "blocked_payment_method",
    ]
    state = payment_state(customer_id="cus_blocked")
    assert_blocked(screen(database_engine, state, "tok_blocked"), "blocked_customer")


def test_velocity_blocks_the_payment_after_the_limit(database_engine: Engine):
    customer, now = "cus_velocity", datetime.now(UTC)
    for n in range(MAX_PAYMENTS):
        at = now - WINDOW + timedelta(minutes=1 + n)  # all inside the window
        state = payment_state(customer_id=customer, created_at=at, updated_at=at)
        assert screen(database_engine, state).action == "allow", f"payment {n + 1}"

    decision = screen(database_engine, payment_state(customer_id=customer, created_at=now))

    assert_blocked(decision, "velocity")
    assert decision.features is not None
    assert decision.features.velocity_count_1h == MAX_PAYMENTS
    # Only this customer is limited.
    assert screen(database_engine, payment_state(customer_id="cus_other")).action == "allow"


def test_velocity_ignores_payments_outside_the_window(database_engine: Engine):
    customer, now = "cus_velocity", datetime.now(UTC)
    for n in range(5):
        old = now - WINDOW - timedelta(minutes=1 + n)
        screen(database_engine, payment_state(customer_id=customer, created_at=old))
    for _ in range(MAX_PAYMENTS):
        state = payment_state(customer_id=customer, created_at=now)
        assert screen(database_engine, state).action == "allow"

    assert_blocked(
        screen(database_engine, payment_state(customer_id=customer, created_at=now)), "velocity"
    )


def test_velocity_ignores_other_tenants(database_engine: Engine):
    customer = "cus_shared_id"
    for _ in range(MAX_PAYMENTS + 2):
        state = payment_state(tenant_id="ten_elsewhere", customer_id=customer)
        screen(database_engine, state)

    for _ in range(MAX_PAYMENTS):
        assert screen(database_engine, payment_state(customer_id=customer)).action == "allow"
    assert_blocked(screen(database_engine, payment_state(customer_id=customer)), "velocity")


def test_a_retried_screening_does_not_count_the_payment_itself(database_engine: Engine):
    customer = "cus_retry"
    states = [payment_state(customer_id=customer) for _ in range(MAX_PAYMENTS)]
    for state in states:
        assert screen(database_engine, state).action == "allow"

    # The activity retried for the last payment: it is already in the read model.
    assert screen(database_engine, states[-1]).action == "allow"
    with Session(database_engine) as session:
        assert session.get(PaymentRecord, states[-1].payment_id) is not None


# ------------------------------------------------------------------ tenants' rule sets


def test_a_tenant_rule_set_takes_over_from_the_default(database_engine: Engine):
    save_rules(
        database_engine,
        {
            "id": "large_usd",
            "action": "review",
            "description": "large USD payments are reviewed",
            "when": [
                {"field": "currency", "op": "in", "values": ["USD"]},
                {"field": "amount", "op": "gte", "value": 5_000},
            ],
        },
    )

    decision = screen(database_engine, payment_state(amount=6_000))

    assert (decision.action, decision.rule, decision.reason) == (
        "review",
        "large_usd",
        "large USD payments are reviewed",
    )
    assert decision.fired == [
        FiredRule(id="large_usd", action="review", description="large USD payments are reviewed")
    ]
    assert decision.rules_version == 1
    # The platform's rules still apply to this tenant, under its version...
    blocked = screen(database_engine, payment_state(customer_id="cus_blocked"))
    assert (blocked.action, blocked.rule, blocked.rules_version) == ("block", "blocked_customer", 1)
    # ...and to the others, alone.
    elsewhere = screen(database_engine, payment_state(tenant_id="ten_b", amount=60_000))
    assert (elsewhere.action, elsewhere.rule, elsewhere.rules_version) == (
        "block",
        "amount_ceiling_usd",
        0,
    )


def test_an_empty_tenant_rule_set_keeps_the_platform_floor(database_engine: Engine):
    save_rules(database_engine)

    assert_blocked(
        screen(database_engine, payment_state(customer_id="cus_blocked")), "blocked_customer"
    )
    assert_blocked(screen(database_engine, payment_state(amount=10_001)), "amount_ceiling_usd")
    assert_blocked(
        screen(database_engine, payment_state(), "tok_blocked"), "blocked_payment_method"
    )
    assert screen(database_engine, payment_state()).action == "allow"


def test_a_tenant_allow_rule_does_not_lift_a_platform_block(database_engine: Engine):
    everyone = {"field": "amount", "op": "gte", "value": 0}
    save_rules(database_engine, {"id": "let_everyone_in", "action": "allow", "when": [everyone]})

    decision = screen(database_engine, payment_state(customer_id="cus_blocked", amount=20_000))

    assert_blocked(decision, "amount_ceiling_usd")
    # Every rule that fired is kept, the tenant's allow too; the platform's block decided.
    assert [fired.id for fired in decision.fired] == [
        "amount_ceiling_usd",
        "blocked_customer",
        "let_everyone_in",
    ]
    assert decision.rules_version == 1
    # Below the platform's floor, the tenant's allow decides as before.
    allowed = screen(database_engine, payment_state())
    assert (allowed.action, allowed.rule) == ("allow", "let_everyone_in")


def test_a_tenant_may_be_stricter_than_the_platform(database_engine: Engine):
    small = {"field": "amount", "op": "gt", "value": 500}
    save_rules(database_engine, {"id": "small_only", "action": "block", "when": [small]})

    assert_blocked(screen(database_engine, payment_state(amount=501)), "small_only")
    assert screen(database_engine, payment_state(amount=500)).action == "allow"


def test_the_platform_velocity_limit_applies_under_a_tenant_rule_set(database_engine: Engine):
    save_rules(database_engine)
    decisions = [
        screen(database_engine, payment_state(customer_id="cus_velocity"))
        for _ in range(MAX_PAYMENTS + 1)
    ]

    assert [d.action for d in decisions] == ["allow"] * MAX_PAYMENTS + ["block"]
    assert decisions[-1].rule == "velocity"


def test_a_new_version_replaces_the_last_one(database_engine: Engine):
    fraud = FraudActivities(database_engine, RULES, None)  # one worker: rule sets cached

    def decide(**overrides) -> ScreeningDecision:
        command = ScreeningCommand(state=payment_state(**overrides), payment_method="tok_visa")
        return fraud.screen_payment(command)

    amount_rule = {"field": "amount", "op": "gt", "value": 100}
    save_rules(database_engine, {"id": "v1", "action": "review", "when": [amount_rule]})
    assert (decide().rule, decide().rules_version) == ("v1", 1)

    save_rules(database_engine, {"id": "v2", "action": "require_3ds", "when": [amount_rule]})

    decision = decide()
    assert (decision.action, decision.rule, decision.rules_version) == ("require_3ds", "v2", 2)


def test_rules_on_the_signals(database_engine: Engine):
    save_rules(
        database_engine,
        {
            "id": "bad_network",
            "action": "block",
            "when": [{"field": "ip_address", "op": "in", "list": "bad_networks"}],
        },
        {
            "id": "abroad",
            "action": "require_3ds",
            "when": [{"field": "country_mismatch", "value": True}],
        },
        {
            "id": "stolen_card",
            "action": "block",
            "when": [{"field": "card_fingerprint", "op": "in", "values": ["fp_stolen"]}],
        },
        lists={"bad_networks": ["198.51.100.0/24"]},
    )

    def decide(**signals) -> ScreeningDecision:
        return screen(database_engine, payment_state(), signals=RiskSignals(**signals))

    assert decide().action == "allow"
    assert decide(ip_address="198.51.100.77").rule == "bad_network"
    assert decide(ip_address="198.51.101.77").action == "allow"
    assert decide(card_country="US", ip_country="FR").rule == "abroad"
    assert decide(card_country="US", ip_country="US").action == "allow"
    assert decide(card_fingerprint="fp_stolen").rule == "stolen_card"
    # The workflow keeps the fingerprint in the state too.
    stolen = payment_state(card_fingerprint="fp_stolen")
    assert screen(database_engine, stolen).rule == "stolen_card"


def test_velocity_by_customer_counts_and_sums_real_rows(database_engine: Engine):
    save_rules(
        database_engine,
        velocity_rule("busy", "customer", "count", 3, action="review"),
        velocity_rule("big_spender", "customer", "amount", 10_000),
    )
    customer = "cus_busy"

    def decide(amount: int, currency: str = "USD") -> ScreeningDecision:
        state = payment_state(customer_id=customer, amount=amount, currency=currency)
        return screen(database_engine, state, platform_rules=LOW_FLOOR)

    assert decide(4_000).action == "allow"  # nothing before: 0 payments, 0 USD
    assert decide(5_999, "EUR").action == "allow"  # 1 payment, 4,000 USD
    assert decide(5_999).action == "allow"  # 2 payments, 4,000 USD
    third = decide(1)  # 3 payments, 9,999 USD
    assert (third.action, [f.id for f in third.fired]) == ("review", ["busy"])
    fourth = decide(1)  # 4 payments, 10,000 USD
    assert (fourth.action, [f.id for f in fourth.fired]) == ("block", ["busy", "big_spender"])


def test_velocity_by_card_follows_the_card_across_customers(database_engine: Engine):
    save_rules(
        database_engine,
        velocity_rule("card_testing", "card_fingerprint", "count", 2),
        velocity_rule("card_amount", "card_fingerprint", "amount", 900, action="review"),
    )

    def decide(customer: str, fingerprint: str | None, amount: int = 100) -> ScreeningDecision:
        state = payment_state(customer_id=customer, amount=amount)
        return screen(database_engine, state, signals=RiskSignals(card_fingerprint=fingerprint))

    assert decide("cus_a", "fp_1", amount=900).action == "allow"
    assert decide("cus_b", "fp_1").action == "review"  # 900 on the card before
    assert decide("cus_c", "fp_2").action == "allow"  # another card
    assert decide("cus_d", None).action == "allow"  # no card to follow
    assert decide("cus_e", "fp_1").rule == "card_testing"  # 2 payments on the card before


# ------------------------------------------------------------------ concurrency

SCREENINGS = 12
LIMIT = 5


def screen_concurrently(engine: Engine, commands: list[ScreeningCommand]) -> list[str]:
    """Screen every command at once, each from its own thread and engine, as that many
    worker processes would (one engine's SQLite pool would make them queue in-process)."""
    engines = [make_engine(engine.url.render_as_string(hide_password=False)) for _ in commands]
    start = threading.Barrier(len(commands))

    def run(own_engine: Engine, command: ScreeningCommand) -> str:
        fraud = FraudActivities(own_engine, LOW_FLOOR, None)
        start.wait()
        return fraud.screen_payment(command).action

    try:
        with ThreadPoolExecutor(max_workers=len(commands)) as pool:
            return list(pool.map(run, engines, commands))
    finally:
        for own_engine in engines:
            own_engine.dispose()


def test_velocity_is_exact_under_concurrent_screenings(database_engine: Engine):
    save_rules(database_engine, velocity_rule("burst", "customer", "count", LIMIT))
    commands = [
        ScreeningCommand(state=payment_state(customer_id="cus_burst"), payment_method="tok_visa")
        for _ in range(SCREENINGS)
    ]

    actions = screen_concurrently(database_engine, commands)

    assert sorted(actions) == ["allow"] * LIMIT + ["block"] * (SCREENINGS - LIMIT)


def test_velocity_by_card_is_exact_under_concurrent_screenings(database_engine: Engine):
    # Customers and cards crossed: each screening takes a customer's and a card's turn,
    # in one order, so none waits for another in a cycle.
    save_rules(database_engine, velocity_rule("card_burst", "card_fingerprint", "count", LIMIT))
    commands = [
        ScreeningCommand(
            state=payment_state(customer_id=f"cus_{n % 3}"),
            payment_method="tok_visa",
            signals=RiskSignals(card_fingerprint=f"fp_{n % 2}"),
        )
        for n in range(SCREENINGS)
    ]

    actions = screen_concurrently(database_engine, commands)

    for card in (0, 1):
        on_card = sorted(actions[card::2])
        assert on_card == ["allow"] * LIMIT + ["block"] * (SCREENINGS // 2 - LIMIT), card


# ------------------------------------------------------------------ the model


@pytest.fixture(scope="module")
def model(risk_model_dir: Path) -> RiskModel:
    return RiskModel.load(risk_model_dir)


def test_the_decision_carries_the_model_score(database_engine: Engine, model: RiskModel):
    save_rules(
        database_engine,
        {
            "id": "any_score",
            "action": "require_3ds",
            "when": [{"field": "score", "op": "gte", "value": 0}],
        },
    )
    signals = RiskSignals(card_country="US", ip_country="FR")

    decision = screen(database_engine, payment_state(), signals=signals, model=model)

    assert decision.features is not None
    assert decision.features.country_mismatch is True
    assert decision.score is not None
    assert decision.score == model.score(decision.features)  # deterministic
    assert 0 <= decision.score <= 1
    assert decision.model_version == model.card.version
    assert (decision.action, decision.rule, decision.rules_version) == (
        "require_3ds",
        "any_score",
        1,
    )
    # Without a model there is no score, and score rules never fire.
    unscored = screen(database_engine, payment_state(), signals=signals)
    assert (unscored.action, unscored.score, unscored.model_version) == ("allow", None, None)


def test_the_tree_walk_scores_exactly_as_predict_proba(model: RiskModel):
    estimator = model._estimator
    walk = TreeWalk.of(estimator)
    assert walk is not None
    random = np.random.default_rng(7)
    scale = random.choice([1.0, 10.0, 1000.0], size=(2000, len(FEATURE_NAMES)))
    rows = random.normal(size=scale.shape) * scale
    rows[random.random(rows.shape) < 0.05] = np.nan  # missing values follow their split
    expected = estimator.predict_proba(rows)[:, 1]
    assert [walk.fraud_probability(list(row)) for row in rows] == list(expected)
    # What it cannot reproduce is scored by scikit-learn itself.
    assert TreeWalk.of(LogisticRegression()) is None


def test_the_decision_is_logged_without_card_data(database_engine: Engine, caplog):
    signals = RiskSignals(card_fingerprint="fp_secretive", ip_address="203.0.113.9")
    state = payment_state(customer_id="cus_blocked")

    with caplog.at_level(logging.INFO, logger="activities.risk.screening"):
        screen(database_engine, state, signals=signals)

    [line] = [r.getMessage() for r in caplog.records if r.name == "activities.risk.screening"]
    assert state.payment_id in line
    assert "block" in line
    assert "blocked_customer" in line
    assert "fp_secretive" not in line
    assert "203.0.113.9" not in line


def test_the_worker_loads_the_configured_model_once(risk_model_dir: Path):
    settings = Settings(risk_model_dir=str(risk_model_dir))

    model = load_configured(settings)

    assert model is not None
    assert model.card.version == RiskModel.load(risk_model_dir).card.version
    assert load_configured(settings) is model


def test_no_model_is_a_warning_and_no_score(tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING, logger="activities.risk.model"):
        assert load_configured(Settings(risk_model_dir=str(tmp_path / "none"))) is None
        assert load_configured(Settings(risk_model_dir=str(tmp_path / "none"))) is None

    assert len([r for r in caplog.records if r.name == "activities.risk.model"]) == 1


def test_a_broken_model_stops_the_worker(tmp_path: Path, risk_model_dir: Path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_bytes((risk_model_dir / "model.json").read_bytes())

    with pytest.raises(RiskModelError, match=r"model\.joblib is missing"):
        load_directory(str(broken))
