"""Tenants' API keys: issued once, stored as a keyed hash, rotated, revoked, audited.

A key reads ``sk_<prefix>_<secret>``: the 12-hex-digit prefix is not secret and finds the
row; the whole key is checked against the row's HMAC-SHA256 under the server's pepper
(``PAYSAGA_API_KEY_PEPPER``). The secret is 256 random bits, so nobody can guess it and a
password hash's deliberate cost would only be a cost to us: one HMAC per request, the same
whether the prefix exists or not. Every operation on keys appends an audit event in the
same transaction.

Keys issued before the keyed hash have only an Argon2id hash: such a key is checked with
Argon2id once and then stored as the keyed hash. The Argon2 path (and the argon2-cffi
dependency) can go once no row has ``key_digest`` NULL (``SELECT count(*) FROM api_keys
WHERE key_digest IS NULL AND revoked_at IS NULL``).
"""

import hashlib
import hmac
import re
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from sqlalchemy import Engine
from sqlalchemy import Row
from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from sqlmodel import select

from api.problems import Problem
from schemas.runtime.settings import Settings
from schemas.store.database import as_utc
from schemas.store.tables import ApiKey
from schemas.store.tables import AuditEvent
from schemas.store.tables import Tenant
from schemas.tenants import ApiKeyOut
from schemas.tenants import AuditEventOut
from schemas.tenants import CreatedApiKey
from schemas.tenants import TenantOut

KEY_FORMAT = re.compile(r"\Ask_(?P<prefix>[0-9a-f]{12})_[A-Za-z0-9_-]{43}\Z")
_legacy_hasher = PasswordHasher()  # only to check and upgrade keys issued before key_digest
# At most this many Argon2id checks at once (64 MiB each), so forged keys aimed at
# not-yet-upgraded prefixes cannot take every core.
_legacy_checks = threading.BoundedSemaphore(1)


@dataclass(frozen=True)
class Actor:
    """Who acted, as the audit log records it: a name, and which credential it used."""

    name: str
    credential: str | None = None


def as_actor(actor: "Actor | str") -> Actor:
    return actor if isinstance(actor, Actor) else Actor(actor)


def keyed_digest(pepper: bytes, presented: str) -> str:
    """What is stored for a key and compared on every request."""
    return hmac.new(pepper, presented.encode(), hashlib.sha256).hexdigest()


def pepper_of(settings: Settings) -> bytes:
    pepper = settings.api_key_pepper
    return pepper.get_secret_value().encode() if pepper else b""


def credential_fingerprint(kind: str, secret: str) -> str:
    """Names a credential in the audit log without revealing it: rotating it changes this."""
    return f"{kind}:{hashlib.sha256(secret.encode()).hexdigest()[:12]}"


def _now() -> datetime:
    return datetime.now(UTC)


def key_status(key: ApiKey | Row, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    expires_at = as_utc(key.expires_at)
    if expires_at is not None:
        return "expired" if expires_at <= now else "expiring"
    return "active"


def key_out(key: ApiKey, now: datetime) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        tenant_id=key.tenant_id,
        prefix=key.prefix,
        status=key_status(key, now),
        created_at=as_utc(key.created_at),
        expires_at=as_utc(key.expires_at),
        revoked_at=as_utc(key.revoked_at),
        replaced_by=key.replaced_by,
    )


_api_keys = ApiKey.__table__
_KEY_BY_PREFIX = sa_select(_api_keys).where(_api_keys.c.prefix == bindparam("prefix"))


class KeyVerifier:
    """Bearer key → tenant id, or None, at the same cost for every well-formed key.

    The row is read on every request: revocation and expiry take effect at once, in every
    API process.
    """

    def __init__(self, engine: Engine, pepper: bytes = b"") -> None:
        self._engine = engine
        self._pepper = pepper
        # Compared when the prefix finds no usable key, so that answer costs what a wrong
        # secret for a live prefix costs (no timing oracle for live prefixes).
        self._dummy = keyed_digest(pepper, secrets.token_urlsafe(32))

    def tenant_for(self, presented: str) -> str | None:
        match = KEY_FORMAT.fullmatch(presented)
        if match is None:
            return None
        digest = keyed_digest(self._pepper, presented)
        # A Core row, not an ORM object: this runs on every request.
        with self._engine.begin() as connection:
            key = connection.execute(_KEY_BY_PREFIX, {"prefix": match["prefix"]}).first()
        if key is None or key_status(key, _now()) not in ("active", "expiring"):
            hmac.compare_digest(digest, self._dummy)
            return None
        if key.key_digest is not None:
            return key.tenant_id if hmac.compare_digest(digest, key.key_digest) else None
        return key.tenant_id if self._upgraded(key, presented, digest) else None

    def _upgraded(self, key: Row, presented: str, digest: str) -> bool:
        """A key from before the keyed hash: Argon2id once, then stored as its digest."""
        with _legacy_checks:
            try:
                _legacy_hasher.verify(key.secret_hash or "", presented)
            except (VerificationError, InvalidHashError):
                return False
        with Session(self._engine) as session, session.begin():
            upgraded = session.exec(
                update(ApiKey)
                .where(ApiKey.id == key.id, ApiKey.key_digest.is_(None))
                .values(key_digest=digest, secret_hash=None)
            )
            if upgraded.rowcount:
                audit(session, "system", "key.rehashed", key.tenant_id, key.id, "keyed hash")
        return True


def key_id_of(engine: Engine, presented: str) -> str | None:
    """The id of the key ``presented`` (already verified by ``KeyVerifier.tenant_for``): who
    acted, for the records that name a credential rather than a client's free text."""
    match = KEY_FORMAT.fullmatch(presented)
    if match is None:
        return None
    with Session(engine) as session:
        return session.exec(select(ApiKey.id).where(ApiKey.prefix == match["prefix"])).first()


def audit(
    session: Session, actor: Actor | str, action: str, tenant_id: str, key_id=None, detail=None
):
    actor = as_actor(actor)
    session.add(
        AuditEvent(
            at=_now(),
            actor=actor.name,
            credential=actor.credential,
            action=action,
            tenant_id=tenant_id,
            key_id=key_id,
            detail=detail,
        )
    )


def _issue(session: Session, tenant_id: str, pepper: bytes) -> tuple[ApiKey, str]:
    prefix = secrets.token_hex(6)
    secret = f"sk_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=f"key_{uuid.uuid4().hex[:24]}",
        tenant_id=tenant_id,
        prefix=prefix,
        key_digest=keyed_digest(pepper, secret),
        created_at=_now(),
    )
    session.add(key)
    return key, secret


def create_tenant(
    session: Session, actor: Actor | str, name: str, tenant_id: str | None
) -> TenantOut:
    tenant = Tenant(id=tenant_id or f"ten_{uuid.uuid4().hex[:24]}", name=name, created_at=_now())
    try:
        with session.begin():
            session.add(tenant)
            session.flush()
            audit(session, actor, "tenant.created", tenant.id, detail=name[:200])
    except IntegrityError:
        raise Problem("tenant_exists") from None
    return TenantOut(id=tenant.id, name=tenant.name, created_at=as_utc(tenant.created_at))


def require_tenant(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise Problem("tenant_not_found")
    return tenant


def _key(session: Session, tenant_id: str, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        raise Problem("api_key_not_found")
    return key


def create_key(
    session: Session, actor: Actor | str, tenant_id: str, pepper: bytes = b""
) -> CreatedApiKey:
    with session.begin():
        require_tenant(session, tenant_id)
        key, secret = _issue(session, tenant_id, pepper)
        audit(session, actor, "key.created", tenant_id, key.id)
        created = key_out(key, _now())
    return CreatedApiKey(**created.model_dump(), secret=secret)


def list_keys(session: Session, tenant_id: str) -> list[ApiKeyOut]:
    with session.begin():
        require_tenant(session, tenant_id)
        keys = session.exec(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.created_at)
        ).all()
        now = _now()
        return [key_out(key, now) for key in keys]


def rotate_key(
    session: Session,
    actor: Actor | str,
    tenant_id: str,
    key_id: str,
    grace: timedelta,
    pepper: bytes = b"",
) -> CreatedApiKey:
    """A new key; the old one works for ``grace`` more (0: not at all) and then expires."""
    with session.begin():
        old = _key(session, tenant_id, key_id)
        now = _now()
        if key_status(old, now) not in ("active", "expiring"):
            raise Problem("api_key_inactive")
        new, secret = _issue(session, tenant_id, pepper)
        old.expires_at = min(filter(None, [as_utc(old.expires_at), now + grace]))
        old.replaced_by = new.id
        session.add(old)
        audit(session, actor, "key.rotated", tenant_id, old.id, f"replaced by {new.id}")
        audit(session, actor, "key.created", tenant_id, new.id, f"replaces {old.id}")
        created = key_out(new, now)
    return CreatedApiKey(**created.model_dump(), secret=secret)


def audit_review(
    session: Session, actor: Actor, tenant_id: str, payment_id: str, decision: str
) -> None:
    """A platform operator decided one of the tenant's payments through the admin API."""
    with session.begin():
        audit(session, actor, "payment.reviewed", tenant_id, detail=f"{payment_id}: {decision}")


def revoke_key(session: Session, actor: Actor | str, tenant_id: str, key_id: str) -> ApiKeyOut:
    with session.begin():
        key = _key(session, tenant_id, key_id)
        now = _now()
        if key.revoked_at is None:
            key.revoked_at = now
            session.add(key)
            audit(session, actor, "key.revoked", tenant_id, key.id)
        return key_out(key, now)


def audit_events(
    session: Session, tenant_id: str | None, after: int, limit: int
) -> list[AuditEventOut]:
    query = select(AuditEvent).where(AuditEvent.id > after)
    if tenant_id:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    with session.begin():
        rows = session.exec(query.order_by(AuditEvent.id).limit(limit)).all()
        return [AuditEventOut(**row.model_dump(exclude={"at"}), at=as_utc(row.at)) for row in rows]
