"""Risk rules (issue 9): each tenant's versioned rule set, read by the fraud check.

A tenant posts its whole rule set; it is stored as the next version and is in force for the
payments that start after it. Versions are never edited, so a payment's risk decision names
the version it was taken under, and that version can always be read back. A tenant that has
posted nothing runs under the platform default, version 0, built from the
``PAYSAGA_FRAUD__*`` settings. The format is ``paysaga.risk.rules/v1``
(schemas/risk_rules.py; docs/risk.md has examples).
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from sqlalchemy import Connection, Engine, select

from api.auth import TenantDep
from api.dependencies import EngineDep, IdempotencyDep, SettingsDep
from api.idempotency import execute_once, fingerprint
from api.openapi import IDEMPOTENCY_PROBLEMS, problems
from api.problems import Problem
from api.routes.payments import OptionalIdempotencyKey
from schemas.database import as_utc
from schemas.risk_rule_store import (
    ConcurrentRuleSetChange,
    current_rule_set,
    rule_set_version,
    save_rule_set,
)
from schemas.risk_rules import RiskRuleSet, RiskRuleSetDocument, default_rule_set
from schemas.settings import FraudRules
from schemas.tables import RiskRuleSetRecord

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
    "require_3ds among them, and a payment no rule fires on is allowed. A blocked payment "
    "fails with `fraud_<rule id>`."
)


class StoredRiskRuleSet(RiskRuleSet):
    """A version of the tenant's rule set, as in force or as it was."""

    created_at: datetime | None = Field(
        default=None, description="When this version was posted; absent for the default, 0"
    )


VersionQuery = Annotated[
    int | None,
    Query(
        ge=0,
        le=2**31 - 1,
        description="A version to read instead of the one in force; 0 is the default set",
    ),
]


def rule_set_not_found() -> Problem:
    return Problem(404, "rule_set_not_found", "No such risk rule set version")


def version_conflict() -> Problem:
    return Problem(
        409,
        "rules_version_conflict",
        "Another rule set was stored at the same time",
        "post it again: it will be stored as the next version",
        headers={"Retry-After": "1"},
    )


def _created_at(connection: Connection, tenant: str, version: int) -> datetime | None:
    return as_utc(
        connection.execute(
            select(RiskRuleSetRecord.created_at).where(
                RiskRuleSetRecord.tenant_id == tenant, RiskRuleSetRecord.version == version
            )
        ).scalar()
    )


def _stored(connection: Connection, tenant: str, rule_set: RiskRuleSet) -> StoredRiskRuleSet:
    return StoredRiskRuleSet(
        **dict(rule_set), created_at=_created_at(connection, tenant, rule_set.version)
    )


def _default(rules: FraudRules) -> StoredRiskRuleSet:
    return StoredRiskRuleSet(**dict(default_rule_set(rules)))


def _save(engine: Engine, tenant: str, document: RiskRuleSetDocument) -> StoredRiskRuleSet:
    """The next version, in one transaction. Two posts racing for the same version number
    (PostgreSQL; SQLite serializes writers) are two whole rule sets posted one after the
    other, so the loser is stored once more as the version after the winner's, as if it
    had come a moment later. Only a third writer in between makes it a 409."""
    try:
        return _save_once(engine, tenant, document)
    except ConcurrentRuleSetChange:
        pass
    try:
        return _save_once(engine, tenant, document)
    except ConcurrentRuleSetChange:
        raise version_conflict() from None


def _save_once(engine: Engine, tenant: str, document: RiskRuleSetDocument) -> StoredRiskRuleSet:
    with engine.begin() as connection:
        return _stored(connection, tenant, save_rule_set(connection, tenant, document))


def _read(engine: Engine, tenant: str, version: int | None, rules: FraudRules):
    with engine.connect() as connection:
        if version is None:
            newest = current_rule_set(connection, tenant)
            return _default(rules) if newest is None else _stored(connection, tenant, newest)
        if version == 0:
            return _default(rules)
        stored = rule_set_version(connection, tenant, version)
        return None if stored is None else _stored(connection, tenant, stored)


def _json(rule_set: StoredRiskRuleSet, status_code: int = 200) -> Response:
    # Without nulls: a member condition shows its `values` or its `list`, not both.
    return Response(
        rule_set.model_dump_json(exclude_none=True), status_code, media_type="application/json"
    )


@router.post(
    "/rules",
    status_code=status.HTTP_201_CREATED,
    response_model=StoredRiskRuleSet,
    response_model_exclude_none=True,
    responses=problems("rules_version_conflict", *IDEMPOTENCY_PROBLEMS),
    summary="Replace the risk rules with a new version",
    description=(
        "Stores the whole rule set as the tenant's next version (1, 2, …), in force for "
        "payments that start from now on; earlier versions stay readable. An invalid "
        "document (unknown field, undefined list, duplicate rule id, bad IP network, a card "
        "number in a value, a float amount, a window over 30 days) is a 422 and stores "
        "nothing. " + FORMAT_DOC
    ),
)
async def create_risk_rules(
    tenant: TenantDep,
    body: RiskRuleSetDocument,
    request: Request,
    engine: EngineDep,
    idempotency: IdempotencyDep,
    idempotency_key: OptionalIdempotencyKey = None,
) -> Response:
    async def create(_: str | None) -> Response:
        stored = await run_in_threadpool(_save, engine, tenant, body)
        return _json(stored, status.HTTP_201_CREATED)

    if idempotency_key is None:
        return await create(None)
    return await execute_once(
        idempotency, tenant, idempotency_key, fingerprint(request, body), create
    )


@router.get(
    "/rules",
    response_model=StoredRiskRuleSet,
    response_model_exclude_none=True,
    responses=problems("rule_set_not_found"),
    summary="The risk rules in force, or a given version",
    description=(
        "Without `version`: the tenant's newest rule set, or the platform default (version "
        "0, from the `PAYSAGA_FRAUD__*` settings) while it has posted none. With `version`: "
        "that stored version (404 `rule_set_not_found` if the tenant has none such). " + FORMAT_DOC
    ),
)
async def get_risk_rules(
    tenant: TenantDep,
    engine: EngineDep,
    settings: SettingsDep,
    version: VersionQuery = None,
) -> Response:
    rule_set = await run_in_threadpool(_read, engine, tenant, version, settings.fraud)
    if rule_set is None:
        raise rule_set_not_found()
    return _json(rule_set)
