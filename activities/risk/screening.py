"""The fraud check: the platform's risk rules, the tenant's and the risk model, on every
payment.

One transaction per screening records the payment in the read model, computes its features
and velocity in SQL, scores it and evaluates the platform's rules and the tenant's set in
force on top (a platform block wins). Screenings of the same
customer (and of the same card) take turns, so a velocity limit lets exactly as many
payments through as it says, however many arrive at once: on PostgreSQL through transaction
advisory locks, on SQLite because every transaction takes the database's write lock at
BEGIN (schemas/store/database.py: ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text
from temporalio import activity

from activities.risk.features import SqlVelocity
from activities.risk.features import compute_features
from activities.risk.features import known_velocity
from activities.risk.model import RiskModel
from activities.risk.rules import PaymentFacts
from activities.risk.rules import RuleEvaluator
from activities.risk.rules import parse_ip
from activities.risk.rules import under_floor
from schemas.fraud import ScreeningCommand
from schemas.fraud import ScreeningDecision
from schemas.risk_rules import FraudRules
from schemas.risk_rules import default_rule_set
from schemas.store.read_model import upsert_payment
from schemas.store.risk_rules import rule_set_version
from schemas.store.tables import RiskRuleSetRecord

log = logging.getLogger(__name__)

# Rule set versions are never edited: a prepared version stays valid for ever, and only
# the number in force is read on each screening.
RULE_SET_CACHE_SIZE = 1024
# Built once: building statements per payment costs more than running them.
_VERSION_IN_FORCE = select(func.max(RiskRuleSetRecord.version)).where(
    RiskRuleSetRecord.tenant_id == bindparam("tenant_id")
)
_ADVISORY_LOCK = text("SELECT pg_advisory_xact_lock(:key)")


class FraudActivities:
    def __init__(
        self, engine: Engine, default_rules: FraudRules, model: RiskModel | None = None
    ) -> None:
        self._engine = engine
        self._default = RuleEvaluator(default_rule_set(default_rules))
        self._model = model
        self._evaluators: OrderedDict[tuple[str, int], RuleEvaluator] = OrderedDict()
        self._evaluators_lock = threading.Lock()

    @activity.defn
    def screen_payment(self, command: ScreeningCommand) -> ScreeningDecision:
        """Record the payment as ``processing`` and decide what happens to it."""
        state, signals = command.state, command.signals
        fingerprint = state.card_fingerprint or signals.card_fingerprint
        if state.card_fingerprint != fingerprint:
            # Recorded with the payment, so velocity by card finds it in later screenings.
            state = state.model_copy(update={"card_fingerprint": fingerprint})
        with self._engine.begin() as connection:
            _take_turns(connection, state.tenant_id, state.customer_id, fingerprint)
            upsert_payment(connection, state)
            evaluator = self._evaluator(connection, state.tenant_id)
            features = compute_features(connection, state, signals)
            score = self._model.score(features) if self._model is not None else None
            facts = PaymentFacts(
                amount=state.amount,
                currency=state.currency,
                customer_id=state.customer_id,
                payment_method=command.payment_method,
                card_fingerprint=fingerprint,
                card_country=signals.card_country,
                ip_country=signals.ip_country,
                ip_address=parse_ip(signals.ip_address),
                new_customer=features.new_customer,
                country_mismatch=features.country_mismatch,
                failed_attempts_24h=features.failed_attempts_24h,
                score=score,
            )
            velocity = SqlVelocity(connection, state, fingerprint, known_velocity(features))
            decision = self._default.evaluate(facts, velocity)
            if evaluator is not self._default:
                decision = under_floor(decision, evaluator.evaluate(facts, velocity))
        decision = decision.model_copy(
            update={
                "model_version": self._model.card.version if self._model else None,
                "features": features,
            }
        )
        log.info(
            "fraud check of %s: %s (rule %s, fired %s, score %s, rules v%s)",
            state.payment_id,
            decision.action,
            decision.rule,
            [fired.id for fired in decision.fired],
            "none" if score is None else f"{score:.4f}",
            decision.rules_version,
        )
        return decision

    def _evaluator(self, connection: Connection, tenant_id: str) -> RuleEvaluator:
        """The tenant's rule set in force, prepared; the platform's when it posted none."""
        version = connection.execute(_VERSION_IN_FORCE, {"tenant_id": tenant_id}).scalar()
        if version is None:
            return self._default
        key = (tenant_id, version)
        with self._evaluators_lock:
            evaluator = self._evaluators.get(key)
            if evaluator is not None:
                self._evaluators.move_to_end(key)
                return evaluator
        rule_set = rule_set_version(connection, tenant_id, version)
        assert rule_set is not None, "a version just read is never deleted"
        evaluator = RuleEvaluator(rule_set)
        with self._evaluators_lock:
            self._evaluators[key] = evaluator
            if len(self._evaluators) > RULE_SET_CACHE_SIZE:
                self._evaluators.popitem(last=False)
        return evaluator


def _take_turns(
    connection: Connection, tenant_id: str, customer_id: str, fingerprint: str | None
) -> None:
    """Serialize this transaction with the other screenings of the customer and the card.

    PostgreSQL: transaction advisory locks, released at commit, taken in one fixed order (by
    key) so two screenings sharing both never wait for each other in a cycle. SQLite: the
    transaction already holds the database's write lock (BEGIN IMMEDIATE)."""
    if connection.dialect.name != "postgresql":
        return
    keys = {_lock_key("customer", tenant_id, customer_id)}
    if fingerprint is not None:
        keys.add(_lock_key("card", tenant_id, fingerprint))
    for key in sorted(keys):
        connection.execute(_ADVISORY_LOCK, {"key": key})


def _lock_key(kind: str, tenant_id: str, value: str) -> int:
    """A signed 64-bit advisory lock key; a collision only makes two screenings take turns."""
    digest = hashlib.blake2b(
        f"paysaga.fraud\0{kind}\0{tenant_id}\0{value}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)
