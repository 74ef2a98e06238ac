"""Tenants' risk rule sets in SQL: the API writes new versions, the fraud check reads the one
in force. Shared by both processes, so it lives beside the contracts it stores."""

from datetime import UTC
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from schemas.risk_rules import RiskRuleSet
from schemas.risk_rules import RiskRuleSetDocument
from schemas.store.database import as_utc
from schemas.store.tables import RiskRuleSetRecord


def _parse(row) -> RiskRuleSet | None:
    if row is None:
        return None
    document = RiskRuleSetDocument.model_validate_json(row.document_json)
    return RiskRuleSet(**dict(document), version=row.version, created_at=as_utc(row.created_at))


def _versions(tenant_id: str):
    return select(
        RiskRuleSetRecord.version, RiskRuleSetRecord.document_json, RiskRuleSetRecord.created_at
    ).where(RiskRuleSetRecord.tenant_id == tenant_id)


def current_rule_set(connection: Connection, tenant_id: str) -> RiskRuleSet | None:
    """The tenant's newest version; None when it has posted none (the default applies)."""
    newest = _versions(tenant_id).order_by(RiskRuleSetRecord.version.desc()).limit(1)
    return _parse(connection.execute(newest).first())


def rule_set_version(connection: Connection, tenant_id: str, version: int) -> RiskRuleSet | None:
    chosen = _versions(tenant_id).where(RiskRuleSetRecord.version == version)
    return _parse(connection.execute(chosen).first())


class ConcurrentRuleSetChange(Exception):
    """Another request stored the same next version first; the caller may retry."""


def save_rule_set(
    connection: Connection, tenant_id: str, document: RiskRuleSetDocument
) -> RiskRuleSet:
    """Store ``document`` as the tenant's next version (in the caller's transaction).

    Two concurrent saves compute the same next version: the unique (tenant, version)
    constraint lets one in and the other raises ``ConcurrentRuleSetChange``."""
    latest = connection.execute(
        select(RiskRuleSetRecord.version)
        .where(RiskRuleSetRecord.tenant_id == tenant_id)
        .order_by(RiskRuleSetRecord.version.desc())
        .limit(1)
    ).scalar()
    version, created_at = (latest or 0) + 1, datetime.now(UTC)
    try:
        with connection.begin_nested():
            connection.execute(
                RiskRuleSetRecord.__table__.insert().values(
                    tenant_id=tenant_id,
                    version=version,
                    document_json=document.model_dump_json(exclude_none=True),
                    created_at=created_at,
                )
            )
    except IntegrityError as exc:
        raise ConcurrentRuleSetChange(tenant_id) from exc
    return RiskRuleSet(**dict(document), version=version, created_at=created_at)
