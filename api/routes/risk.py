"""Risk rules: each tenant's versioned rule set, read by the fraud check.

A tenant posts its whole rule set; it is stored as the next version and is in force for the
payments that start after it. Versions are never edited, so a payment's risk decision names
the version it was taken under, and that version can always be read back. A tenant that has
posted nothing has version 0, no rules of its own. The platform's rules (built from the
``PAYSAGA_FRAUD__*`` settings: ceilings, blocklists, velocity) apply under every tenant's set
and a platform block wins; they hold other merchants' customers, so no tenant is shown them.
The format is ``paysaga.risk.rules/v1``
(schemas/risk_rules.py; docs/risk.md has examples).
"""

from typing import Annotated

from fastapi import APIRouter
from fastapi import Query
from fastapi import Response
from fastapi import status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from api.auth import TenantDep
from api.dependencies import EngineDep
from api.dependencies import OptionallyIdempotentDep
from api.dependencies import SettingsDep
from api.openapi import IDEMPOTENCY_PROBLEMS
from api.openapi import problems
from api.problems import Problem
from schemas.risk_rules import RiskRuleSet
from schemas.risk_rules import RiskRuleSetDocument
from schemas.store.quotas import enforce_quota
from schemas.store.risk_rules import ConcurrentRuleSetChange
from schemas.store.risk_rules import current_rule_set
from schemas.store.risk_rules import rule_set_version
from schemas.store.risk_rules import save_rule_set
from schemas.tenants import TenantQuotas

router = APIRouter(prefix="/v1/risk", tags=["risk"])

FORMAT_DOC = (
    "Format `paysaga.risk.rules/v1` (see docs/risk.md): `rules` is a list of "
    "`{id, action, when, description?, enabled?}`, where `action` is `allow`, `block`, "
    "`review` or `require_3ds` and `when` is a list of conditions that must all hold, each "
    "chosen by its `field`: `amount` (integer minor units), `score` (the model's fraud "
    "probability, 0-1), `failed_attempts_24h`, a member field (`currency`, `customer_id`, "
    "`payment_method`, `card_fingerprint`, `card_country`, `ip_country`, `ip_address` with "
    "CIDR networks) `in`/`not_in` inline `values` or a named `list`, the flags "
    "`new_customer`/`country_mismatch`, or `velocity` (`count` or `amount` by `customer` or "
    "`card_fingerprint` over an ISO 8601 `window` of at most 30 days). `lists` holds the "
    "named blocklists and allowlists. Every enabled rule is evaluated and all that fire are "
    "recorded in the payment's `risk`; the decision is the first of allow > block > review > "
    "require_3ds among them, and a payment no rule fires on is allowed, except that a "
    "block by the platform's own rules wins over any allow. A blocked payment "
    "fails with `fraud_<rule id>`."
)


VersionQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**31 - 1,
        description="A version to read instead of the one in force; 0 is the empty start",
    ),
]


def _save(
    engine: Engine, tenant: str, document: RiskRuleSetDocument, quotas: TenantQuotas
) -> RiskRuleSet:
    """The next version, in one transaction. Two posts racing for the same version number
    (PostgreSQL; SQLite serializes writers) are two whole rule sets posted one after the
    other, so the loser is stored once more as the version after the winner's, as if it
    had come a moment later. Only a third writer in between makes it a 409."""
    for _ in range(2):
        try:
            with engine.begin() as connection:
                enforce_quota(connection, tenant, "rule_set_versions", quotas)
                return save_rule_set(connection, tenant, document)
        except ConcurrentRuleSetChange:
            continue
    raise Problem(
        "rules_version_conflict",
        "post it again: it will be stored as the next version",
        headers={"Retry-After": "1"},
    )


# What a tenant has before it posts: no rules of its own (the platform's still apply).
NO_TENANT_RULES = RiskRuleSet(version=0, rules=[])


def _read(engine: Engine, tenant: str, version: int | None) -> RiskRuleSet | None:
    if version == 0:
        return NO_TENANT_RULES
    with engine.connect() as connection:
        if version is None:
            return current_rule_set(connection, tenant) or NO_TENANT_RULES
        return rule_set_version(connection, tenant, version)


def _json(rule_set: RiskRuleSet, status_code: int = 200) -> Response:
    # Without nulls: a member condition shows its `values` or its `list`, not both.
    return Response(
        rule_set.model_dump_json(exclude_none=True), status_code, media_type="application/json"
    )


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=RiskRuleSet,
    response_model_exclude_none=True,
    responses=problems("rules_version_conflict", "quota_exceeded", *IDEMPOTENCY_PROBLEMS),
    summary="Replace the risk rules with a new version",
    description=(
        "Stores the whole rule set as the tenant's next version (1, 2, …), in force for "
        "payments that start from now on; earlier versions stay readable. An invalid "
        "document (unknown field, undefined list, duplicate rule id, bad IP network, a card "
        "number in a value, a float amount, a window over 30 days) is a 422 and stores "
        "nothing, and so is a 409 `quota_exceeded` for a tenant at its quota of versions. "
        + FORMAT_DOC
    ),
)
async def create_risk_rules(
    tenant: TenantDep,
    body: RiskRuleSetDocument,
    engine: EngineDep,
    once: OptionallyIdempotentDep,
    settings: SettingsDep,
) -> Response:
    async def create() -> Response:
        stored = await run_in_threadpool(_save, engine, tenant, body, settings.quotas)
        return _json(stored, status.HTTP_201_CREATED)

    return await once.run(create, body)


@router.get(
    "/rules",
    response_model=RiskRuleSet,
    response_model_exclude_none=True,
    responses=problems("rule_set_not_found"),
    summary="The risk rules in force, or a given version",
    description=(
        "Without `version`: the tenant's newest rule set, or version 0 (no rules) while it "
        "has posted none. With `version`: that stored version (404 `rule_set_not_found` if "
        "the tenant has none such). The platform's own rules (amount ceilings, blocklists, "
        "velocity) are evaluated under every tenant's, a platform block wins, and they are "
        "not shown here. " + FORMAT_DOC
    ),
)
async def get_risk_rules(
    tenant: TenantDep,
    engine: EngineDep,
    version: VersionQuery = None,
) -> Response:
    rule_set = await run_in_threadpool(_read, engine, tenant, version)
    if rule_set is None:
        raise Problem("rule_set_not_found")
    return _json(rule_set)
