"""The risk rules format: a tenant's versioned rule set, as stored and as sent to
``POST /v1/risk/rules``.

A rule set is a list of rules and named value lists (blocklists, allowlists). A rule fires
when every condition in its ``when`` holds; the fraud check evaluates every enabled rule and
records all that fired. The decision is the action of the fired rule that ranks first in
``ACTION_PRECEDENCE``: an allow rule (an allowlisted customer) wins over every block, so a
known good customer is never stopped by a broad rule; with no rule fired the payment is
allowed. Posting a rule set replaces the tenant's whole set with a new version; versions are
never edited, so each payment's decision names the version it was taken under.

Format ``paysaga.risk.rules/v1`` (docs/risk.md has examples)::

    {"format": "paysaga.risk.rules/v1",
     "lists": {"vip_customers": ["cus_1", "cus_2"]},
     "rules": [
       {"id": "vip", "action": "allow",
        "when": [{"field": "customer_id", "op": "in", "list": "vip_customers"}]},
       {"id": "large_usd", "action": "review",
        "when": [{"field": "currency", "op": "in", "values": ["USD"]},
                 {"field": "amount", "op": "gte", "value": 100000}]},
       {"id": "card_testing", "action": "block",
        "when": [{"field": "velocity", "by": "card_fingerprint", "measure": "count",
                  "window": "PT10M", "op": "gte", "value": 5}]},
       {"id": "risky", "action": "require_3ds",
        "when": [{"field": "score", "op": "gte", "value": 0.5}]}]}
"""

from datetime import datetime
from datetime import timedelta
from ipaddress import ip_network as _ip_network
from typing import Annotated
from typing import Literal

from pydantic import BaseModel
from pydantic import BeforeValidator
from pydantic import ConfigDict
from pydantic import Field
from pydantic import StrictBool
from pydantic import StrictInt
from pydantic import StringConstraints
from pydantic import model_validator

from schemas.card_data import free_text
from schemas.money import MAX_AMOUNT_MINOR

RULES_FORMAT = "paysaga.risk.rules/v1"
RiskAction = Literal["allow", "block", "review", "require_3ds"]
# The decision is the first of these among the fired rules' actions.
ACTION_PRECEDENCE: tuple[RiskAction, ...] = ("allow", "block", "review", "require_3ds")
Comparison = Literal["gt", "gte", "lt", "lte", "eq", "ne"]

MAX_RULES = 200
# 500 of the longest values (64 characters) still fit in the API's default 64 KiB body.
MAX_LIST_VALUES = 500
MAX_VELOCITY_WINDOW = timedelta(days=30)

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
# Customer ids, tokens, fingerprints, countries, IPs: never a card number.
# 67: the longest payment-method token (schemas/payments.py) fits a blocklist.
ListValue = free_text(67, min_length=1)


def ip_network(value: str, strict: bool = False):
    """An address or CIDR network; the error does not echo the client's value."""
    try:
        return _ip_network(value, strict=strict)
    except ValueError:
        raise ValueError(
            "ip_address values are addresses or CIDR networks, e.g. 203.0.113.7 or 10.0.0.0/8"
        ) from None


_STRICT = ConfigDict(extra="forbid", frozen=True)


class FraudRules(BaseModel):
    """The platform's risk rules (schemas.risk_rules.default_rule_set), evaluated under every
    tenant's own and never shown to tenants, and the review policy of every tenant."""

    # Per-currency ceiling in minor units; currencies not listed have no ceiling.
    amount_ceiling: dict[str, int] = Field(
        default_factory=lambda: {"USD": 5_000_000, "EUR": 5_000_000, "GBP": 5_000_000}
    )
    blocked_customers: list[str] = Field(default_factory=list)
    blocked_payment_methods: list[str] = Field(default_factory=lambda: ["tok_blocked"])
    velocity_max_payments: int = 30
    velocity_window: timedelta = timedelta(hours=1)
    # A payment in review that no operator decided within review_timeout is then approved
    # or (the default) rejected and its authorization voided.
    review_timeout: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(hours=24)
    review_timeout_action: Literal["approve", "reject"] = "reject"


class AmountCondition(BaseModel):
    """The payment's amount, integer minor units of its own currency (pair it with a
    currency condition: 10000 is 100.00 USD but 10,000 JPY)."""

    model_config = _STRICT
    field: Literal["amount"]
    op: Comparison
    value: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_MINOR)]


class ScoreCondition(BaseModel):
    """The risk model's probability of fraud, 0 to 1. Never fires when no model is loaded."""

    model_config = _STRICT
    field: Literal["score"]
    op: Comparison
    # Strict: a JSON number only (not true, not "0.5").
    value: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]


class CountCondition(BaseModel):
    """The customer's failed attempts (declined or failed payments) in the last 24 hours."""

    model_config = _STRICT
    field: Literal["failed_attempts_24h"]
    op: Comparison
    value: Annotated[StrictInt, Field(ge=0)]


MemberField = Literal[
    "currency",
    "customer_id",
    "payment_method",
    "card_fingerprint",
    "card_country",
    "ip_country",
    "ip_address",
]


class MemberCondition(BaseModel):
    """The field's value is (``in``) or is not (``not_in``) one of ``values`` or of the named
    ``list``. For ``ip_address`` each value is an address or a CIDR network (``10.0.0.0/8``).
    A payment without the field (no IP sent) is in no list: ``in`` is false, ``not_in`` true.
    """

    model_config = _STRICT
    field: MemberField
    op: Literal["in", "not_in"]
    values: Annotated[list[ListValue], Field(min_length=1, max_length=MAX_LIST_VALUES)] | None = (
        None
    )
    list: Slug | None = None

    @model_validator(mode="after")
    def _values_or_list(self) -> "MemberCondition":
        if (self.values is None) == (self.list is None):
            raise ValueError("give exactly one of values or list")
        if self.field == "ip_address" and self.values is not None:
            for value in self.values:
                ip_network(value, strict=False)  # ValueError: not an address or network
        return self


class FlagCondition(BaseModel):
    """``new_customer``: no earlier payment from the customer; ``country_mismatch``: the
    card's country differs from the IP's (false when either is unknown)."""

    model_config = _STRICT
    field: Literal["new_customer", "country_mismatch"]
    value: StrictBool


def _duration_not_number(value: object) -> object:
    """An ISO 8601 duration ("PT10M") as documented, not pydantic's lax bare seconds."""
    if isinstance(value, int | float):
        raise ValueError("give the window as an ISO 8601 duration, e.g. PT10M")
    return value


class VelocityCondition(BaseModel):
    """How many payments (``count``) or how much money (``amount``, minor units of this
    payment's currency) the same customer or card fingerprint sent within ``window`` before
    this payment, counted in SQL. Payments without a fingerprint never match ``by:
    card_fingerprint``."""

    model_config = _STRICT
    field: Literal["velocity"]
    by: Literal["customer", "card_fingerprint"]
    measure: Literal["count", "amount"]
    window: Annotated[
        timedelta,
        BeforeValidator(_duration_not_number),
        Field(gt=timedelta(0), le=MAX_VELOCITY_WINDOW),
    ]
    op: Comparison
    value: Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT_MINOR)]


Condition = Annotated[
    AmountCondition
    | ScoreCondition
    | CountCondition
    | MemberCondition
    | FlagCondition
    | VelocityCondition,
    Field(discriminator="field"),
]


class RiskRule(BaseModel):
    model_config = _STRICT

    id: Slug
    action: RiskAction
    when: Annotated[list[Condition], Field(min_length=1, max_length=20)]
    description: free_text(200) | None = None
    enabled: StrictBool = True


class RiskRuleSetDocument(BaseModel):
    """Body of ``POST /v1/risk/rules``: the tenant's whole new rule set."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["paysaga.risk.rules/v1"] = RULES_FORMAT
    rules: Annotated[list[RiskRule], Field(max_length=MAX_RULES)]
    lists: Annotated[
        dict[Slug, Annotated[list[ListValue], Field(max_length=MAX_LIST_VALUES)]],
        Field(max_length=50),
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "RiskRuleSetDocument":
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"rule ids must be unique: {', '.join(duplicates)}")
        for rule in self.rules:
            for condition in rule.when:
                named = getattr(condition, "list", None)
                if named is not None and named not in self.lists:
                    raise ValueError(f"rule {rule.id} uses the undefined list {named!r}")
                if condition.field == "ip_address" and named is not None:
                    for value in self.lists[named]:
                        ip_network(value, strict=False)
        return self


class RiskRuleSet(RiskRuleSetDocument):
    """A stored version. Version 0 is a tenant's start, no rules of its own; the fraud check
    evaluates the platform's rules (built from ``PAYSAGA_FRAUD__*`` settings) as version 0."""

    version: Annotated[int, Field(ge=0)]
    created_at: datetime | None = Field(
        default=None, description="When this version was posted; absent for version 0"
    )


def default_rule_set(rules: FraudRules) -> RiskRuleSet:
    """The settings' simple rules as rule set version 0, the platform's floor under every
    tenant's rules. A blocked payment's failure code is ``fraud_<rule id>``:
    ``fraud_blocked_customer`` and ``fraud_velocity`` as before rules were configurable, and
    ``fraud_amount_ceiling_<currency>``."""
    default: list[RiskRule] = [
        RiskRule(
            id=f"amount_ceiling_{currency.lower()}",
            action="block",
            description=f"amount above the {currency} ceiling",
            when=[
                MemberCondition(field="currency", op="in", values=[currency]),
                AmountCondition(field="amount", op="gt", value=ceiling),
            ],
        )
        for currency, ceiling in sorted(rules.amount_ceiling.items())
    ]
    lists: dict[str, list[str]] = {}
    blocklists = (
        ("blocked_customer", "customer_id", rules.blocked_customers, "customer is blocked"),
        (
            "blocked_payment_method",
            "payment_method",
            rules.blocked_payment_methods,
            "payment method is blocked",
        ),
    )
    for rule_id, field, values, description in blocklists:
        if not values:
            continue
        lists[f"{rule_id}s"] = list(values)
        default.append(
            RiskRule(
                id=rule_id,
                action="block",
                description=description,
                when=[MemberCondition(field=field, op="in", list=f"{rule_id}s")],
            )
        )
    default.append(
        RiskRule(
            id="velocity",
            action="block",
            description="too many payments by this customer in the window",
            when=[
                VelocityCondition(
                    field="velocity",
                    by="customer",
                    measure="count",
                    window=rules.velocity_window,
                    op="gte",
                    value=rules.velocity_max_payments,
                )
            ],
        )
    )
    return RiskRuleSet(version=0, rules=default, lists=lists)
