"""SQL tables (sqlmodel). Table models never cross into workflows."""

from datetime import datetime

from sqlalchemy import JSON
from sqlalchemy import BigInteger
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import Index
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import false
from sqlalchemy import true
from sqlmodel import Field
from sqlmodel import SQLModel


class SagaRecord(SQLModel):
    """The columns of every saga's read model (``schemas.store.read_model``): whose saga it
    is, where it stands, when it started and last changed. A table adds its key, the
    columns it is found by, and the state's JSON (``state_json``)."""

    tenant_id: str = Field(index=True, max_length=64)
    status: str = Field(index=True, max_length=32)
    created_at: datetime = Field(index=True)
    updated_at: datetime


class PaymentRecord(SagaRecord, table=True):
    """Read model of a payment: readable after Temporal's retention removed the history."""

    __tablename__ = "payments"
    # The fraud check's velocity: a customer's or a card's payments within a window.
    __table_args__ = (
        Index("ix_payments_velocity_customer", "tenant_id", "customer_id", "created_at"),
        Index("ix_payments_velocity_card", "tenant_id", "card_fingerprint", "created_at"),
    )

    payment_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(index=True, max_length=64)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    provider: str = Field(max_length=32)
    capture_method: str = Field(max_length=16)
    authorized_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    captured_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    refunded_amount: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    provider_reference: str | None = Field(default=None, max_length=64)
    failure_code: str | None = Field(default=None, max_length=64)
    card_fingerprint: str | None = Field(default=None, max_length=64)
    state_json: str  # the full PaymentState, as the workflow last reported it


class IdempotentRequest(SQLModel, table=True):
    """A client's Idempotency-Key: the request it was first used with, and its response.

    ``locked_by`` is set while a request with the key executes; ``response_*`` once one
    finished with an answer worth replaying. Rows older than the retention window are
    purged and the key may then be used again (docs: README, "Idempotency").
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    key: str = Field(max_length=255)
    # SHA-256 of method, path and canonical body: another request under the key is a 422.
    fingerprint: str = Field(max_length=64)
    # The resource the first request created (a payment id), kept across retries.
    resource_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(index=True)
    locked_by: str | None = Field(default=None, max_length=32)
    locked_at: datetime | None = None
    response_status: int | None = None
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LedgerAccount(SQLModel, table=True):
    """``balance`` is Σ of the account's postings, updated in the transaction that posts them
    (under the row's lock, in account-id order); a test checks the two always agree."""

    __tablename__ = "ledger_accounts"
    __table_args__ = (UniqueConstraint("tenant_id", "code", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    code: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    balance: int = Field(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


class JournalEntry(SQLModel, table=True):
    __tablename__ = "journal_entries"
    # The financial report scans one tenant's entries of a period.
    __table_args__ = (Index("ix_journal_entries_tenant_created", "tenant_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(index=True, max_length=64)
    idempotency_key: str = Field(unique=True, max_length=128)
    # The payment the entry belongs to (captures, fees, refunds); None for payouts.
    payment_id: str | None = Field(default=None, index=True, max_length=40)
    # What caused it: a payment, refund or payout id.
    source_id: str | None = Field(default=None, index=True, max_length=40)
    provider: str | None = Field(default=None, max_length=32)
    kind: str = Field(max_length=24)
    description: str = Field(max_length=200)
    created_at: datetime


class Posting(SQLModel, table=True):
    __tablename__ = "postings"

    id: int | None = Field(default=None, primary_key=True)
    entry_id: int = Field(foreign_key="journal_entries.id", index=True)
    account_id: int = Field(foreign_key="ledger_accounts.id", index=True)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)


class Tenant(SQLModel, table=True):
    """A merchant: every payment, key, ledger account and query belongs to exactly one."""

    __tablename__ = "tenants"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    created_at: datetime


class ApiKey(SQLModel, table=True):
    """A tenant's secret key, stored only as its keyed hash; ``prefix`` finds it."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(foreign_key="tenants.id", index=True, max_length=64)
    prefix: str = Field(unique=True, max_length=32)
    # HMAC-SHA256 of the whole key under the server's pepper (api/api_keys.py).
    key_digest: str | None = Field(default=None, max_length=64)
    # Argon2id, only for keys issued before key_digest: cleared when the key is upgraded.
    secret_hash: str | None = Field(default=None, max_length=200)
    created_at: datetime
    # Set by a rotation with a grace period: the key works until then.
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = Field(default=None, max_length=40)


class AuditEvent(SQLModel, table=True):
    """Append-only record of key operations: nothing updates or deletes these rows."""

    __tablename__ = "audit_events"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    actor: str = Field(max_length=64)
    # Which credential acted (api_keys.credential_fingerprint); None for system actions.
    credential: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=32)
    tenant_id: str = Field(index=True, max_length=64)
    key_id: str | None = Field(default=None, max_length=40)
    detail: str | None = Field(default=None, max_length=200)


class TenantRateLimit(SQLModel, table=True):
    """A tenant's own token bucket, when it differs from the settings' default."""

    __tablename__ = "tenant_rate_limits"

    tenant_id: str = Field(primary_key=True, foreign_key="tenants.id", max_length=64)
    per_second: float
    burst: int
    updated_at: datetime


class RefundRecord(SagaRecord, table=True):
    """A refund: written when admitted (``pending`` holds the reservation), then finished.

    Σ amount of a payment's refunds that are not ``failed`` never exceeds its captured
    amount: admission locks the payment's row first (DESIGN: refunds).
    """

    __tablename__ = "refunds"

    refund_id: str = Field(primary_key=True, max_length=40)
    payment_id: str = Field(index=True, max_length=40)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    provider: str = Field(max_length=32)
    reason: str | None = Field(default=None, max_length=200)
    provider_reference: str | None = Field(default=None, max_length=64)
    failure_code: str | None = Field(default=None, max_length=64)
    state_json: str


class ConnectedAccountRecord(SQLModel, table=True):
    """A tenant's connected account (Connect-style): where payouts go."""

    __tablename__ = "connected_accounts"

    account_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    name: str = Field(max_length=200)
    provider: str = Field(max_length=32)
    # A provider bank-account token (``ba_…``), never an account number.
    bank_account: str = Field(max_length=70)
    created_at: datetime
    # The provider's account id, and its standing as the provider last reported it. Rows made
    # before the provider made accounts have none and keep paying out (the server defaults).
    provider_account_id: str | None = Field(default=None, index=True, max_length=64)
    charges_enabled: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    payouts_enabled: bool = Field(
        default=True, sa_column=Column(Boolean, nullable=False, server_default=true())
    )
    # JSON list of the provider's requirement names; NULL for rows made before (nothing due).
    requirements_due: list[str] | None = Field(default=None, sa_column=Column(JSON))
    disabled_reason: str | None = Field(default=None, max_length=64)


class PayoutRecord(SagaRecord, table=True):
    __tablename__ = "payouts"

    payout_id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(index=True, max_length=40)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    provider: str = Field(max_length=32)
    failure_code: str | None = Field(default=None, max_length=64)
    state_json: str


class DisputeRecord(SagaRecord, table=True):
    """Read model of a dispute, written by its saga from what the provider says."""

    __tablename__ = "disputes"
    __table_args__ = (UniqueConstraint("provider", "provider_reference"),)

    dispute_id: str = Field(primary_key=True, max_length=40)
    payment_id: str = Field(index=True, max_length=40)
    provider: str = Field(max_length=32)
    provider_reference: str = Field(max_length=64)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    reason: str | None = Field(default=None, max_length=64)
    evidence_due_by: datetime | None = None
    fee: int = Field(sa_column=Column(BigInteger, nullable=False))
    state_json: str


class ReconciliationReportRecord(SQLModel, table=True):
    """The last reconciliation report of a tenant's day (ledger against provider)."""

    __tablename__ = "reconciliation_reports"

    tenant_id: str = Field(primary_key=True, max_length=64)
    day: str = Field(primary_key=True, max_length=10)  # ISO date, UTC
    generated_at: datetime
    mismatches: int
    report_json: str = Field(sa_column=Column(Text, nullable=False))


class PlanRecord(SQLModel, table=True):
    """A subscription plan (price and cadence). Subscriptions keep a copy of the plan they
    were started or changed to, so editing a plan never rewrites what was sold."""

    __tablename__ = "plans"

    plan_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    name: str = Field(max_length=200)
    amount: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    interval: str = Field(max_length=8)
    interval_count: int = 1
    trial_days: int = 0
    created_at: datetime


class SubscriptionRecord(SagaRecord, table=True):
    """Read model of a subscription: its last reported state, readable once closed."""

    __tablename__ = "subscriptions"

    subscription_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(index=True, max_length=64)
    plan_id: str = Field(index=True, max_length=40)
    next_charge_at: datetime | None = Field(default=None, index=True)
    state_json: str = Field(sa_column=Column(Text, nullable=False))


class InvoiceRecord(SQLModel, table=True):
    """An invoice: lines and exact totals; ``locked_at`` is set when payment starts, after
    which nothing but its payment progress changes."""

    __tablename__ = "invoices"

    invoice_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    customer_id: str = Field(index=True, max_length=64)
    status: str = Field(index=True, max_length=32)
    currency: str = Field(max_length=3)
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_paid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    due_at: datetime
    expires_at: datetime | None = None
    locked_at: datetime | None = None
    # The installment plan (or single payment plan) paying it, once payment started.
    installment_plan_id: str | None = Field(default=None, max_length=40)
    invoice_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(index=True)
    updated_at: datetime


class InstallmentPlanRecord(SagaRecord, table=True):
    """Read model of an installment plan: its last reported state, readable once closed."""

    __tablename__ = "installment_plans"

    installment_plan_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(index=True, max_length=64)
    invoice_id: str | None = Field(default=None, index=True, max_length=40)
    currency: str = Field(max_length=3)
    total: int = Field(sa_column=Column(BigInteger, nullable=False))
    amount_paid: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    state_json: str = Field(sa_column=Column(Text, nullable=False))


class WebhookEventRecord(SQLModel, table=True):
    """A verified provider event, stored once: the unique key makes a redelivery a no-op.

    Only the normalized event is kept (``ProviderEvent``), never the raw body, which may
    carry billing details.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=32)
    event_id: str = Field(max_length=255)
    event_type: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    object_reference: str | None = Field(default=None, max_length=255, index=True)
    tenant_id: str | None = Field(default=None, max_length=64, index=True)
    payment_id: str | None = Field(default=None, max_length=40, index=True)
    # What was done with it: signaled, recorded, unknown_object, ignored.
    outcome: str = Field(max_length=32)
    event_json: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = Field(index=True)


class WebhookRejectionRecord(SQLModel, table=True):
    """Requests refused for a bad or stale signature: counted, nothing else kept."""

    __tablename__ = "webhook_rejections"

    provider: str = Field(primary_key=True, max_length=32)
    rejected: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    last_rejected_at: datetime | None = None


class ProviderHealthRecord(SQLModel, table=True):
    """A provider's circuit breaker, shared by every worker (activities/circuit_breaker)."""

    __tablename__ = "provider_health"

    provider: str = Field(primary_key=True, max_length=32)
    consecutive_failures: int = 0
    # Set while the circuit is open; a probe may go through once ``breaker_open_for`` passed.
    opened_at: datetime | None = None
    probe_started_at: datetime | None = None
    last_failure_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    updated_at: datetime


class RiskRuleSetRecord(SQLModel, table=True):
    """One version of a tenant's risk rules (schemas.risk_rules): never edited; the highest
    version is the one in force."""

    __tablename__ = "risk_rule_sets"
    __table_args__ = (UniqueConstraint("tenant_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    version: int
    # The RiskRuleSetDocument as posted (validated), JSON.
    document_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime


class RiskLabelRecord(SQLModel, table=True):
    """A real outcome for training the risk model: a dispute or an operator's review verdict,
    with the features the payment was scored on (``paysaga risk train --labels``)."""

    __tablename__ = "risk_labels"
    __table_args__ = (UniqueConstraint("tenant_id", "payment_id", "source"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant_id: str = Field(max_length=64)
    payment_id: str = Field(max_length=40)
    # dispute, review_rejected, review_approved
    source: str = Field(max_length=32)
    fraud: bool
    # The RiskFeatures of the payment's decision, JSON; None for payments scored before
    # features were kept (such labels cannot train the model and are skipped).
    features_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(index=True)


class CustomerRecord(SQLModel, table=True):
    """A tenant's customer; its mirrors at providers are named in ``provider_customers_json``
    (``{"stripe": "cus_…"}``)."""

    __tablename__ = "customers"

    customer_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    description: str | None = Field(default=None, max_length=500)
    default_payment_method: str | None = Field(default=None, max_length=40)
    provider_customers_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(index=True)
    updated_at: datetime


class SavedPaymentMethodRecord(SQLModel, table=True):
    """A customer's payment method saved at its provider: the provider's id and what the
    provider says about the card, never card data."""

    __tablename__ = "saved_payment_methods"

    payment_method_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    customer_id: str = Field(index=True, max_length=40)
    provider: str = Field(max_length=16)
    provider_reference: str = Field(max_length=80)
    status: str = Field(max_length=16)
    brand: str | None = Field(default=None, max_length=32)
    last4: str | None = Field(default=None, max_length=4)
    exp_month: int | None = None
    exp_year: int | None = None
    fingerprint: str | None = Field(default=None, max_length=64)
    setup_reference: str | None = Field(default=None, max_length=80)
    failure_code: str | None = Field(default=None, max_length=64)
    created_at: datetime
    detached_at: datetime | None = None


class EventRecord(SQLModel, table=True):
    """An event (``schemas.events``), written in the transaction of the change it reports.
    ``dispatched_at`` is set once the relay has started its deliveries (the outbox)."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_tenant_created", "tenant_id", "created_at", "event_id"),
        Index("ix_events_tenant_object", "tenant_id", "object_id"),
        Index("ix_events_undispatched", "dispatched_at", "created_at"),
    )

    event_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    type: str = Field(index=True, max_length=64)
    object_type: str = Field(max_length=32)
    object_id: str = Field(max_length=64)
    created_at: datetime
    dispatched_at: datetime | None = None
    data_json: str = Field(sa_column=Column(Text, nullable=False))


class WebhookEndpointRecord(SQLModel, table=True):
    """A tenant's webhook endpoint. ``secret`` signs every delivery; after a rotation
    ``previous_secret`` signs too until ``previous_secret_expires_at``. ``failing_since``:
    the first failed attempt since the last delivered one (None while deliveries arrive)."""

    __tablename__ = "webhook_endpoints"

    endpoint_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(index=True, max_length=64)
    url: str = Field(sa_column=Column(Text, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    enabled_events_json: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(max_length=16)
    disabled_reason: str | None = Field(default=None, max_length=200)
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = None
    failing_since: datetime | None = None
    created_at: datetime = Field(index=True)
    updated_at: datetime


class WebhookDeliveryRecord(SQLModel, table=True):
    """One event's delivery to one endpoint; its attempts are ``WebhookAttemptRecord``s."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "tenant_id", "endpoint_id", "created_at"),
    )

    delivery_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    endpoint_id: str = Field(max_length=40)
    event_id: str = Field(index=True, max_length=40)
    event_type: str = Field(max_length=64)
    status: str = Field(max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class WebhookAttemptRecord(SQLModel, table=True):
    """One POST of a delivery: when, the answer's status and the first KiB of its body (or
    why there was none), how long it took."""

    __tablename__ = "webhook_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(index=True, max_length=40)
    number: int
    at: datetime
    status_code: int | None = None
    latency_ms: int
    error: str | None = Field(default=None, max_length=300)
    response_excerpt: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    manual: bool = False


class EmailSettingsRecord(SQLModel, table=True):
    """A tenant's email settings (``schemas.email.EmailSettings``): who its emails are from,
    which kinds it sends, where its own notices go."""

    __tablename__ = "email_settings"

    tenant_id: str = Field(primary_key=True, max_length=64)
    sender_address: str = Field(max_length=254)
    sender_name: str = Field(max_length=100)
    reply_to: str | None = Field(default=None, max_length=254)
    logo_url: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    notification_address: str | None = Field(default=None, max_length=254)
    enabled_kinds_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime
    updated_at: datetime


class EmailMessageRecord(SQLModel, table=True):
    """One email of an event (``schemas.email.OutgoingEmail``). ``recipient`` is personal
    data kept as ``customers.email`` is: it is what was sent, to whom."""

    __tablename__ = "email_messages"
    __table_args__ = (Index("ix_email_messages_tenant_event", "tenant_id", "event_id"),)

    email_id: str = Field(primary_key=True, max_length=40)
    tenant_id: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    event_id: str = Field(max_length=40)
    recipient: str | None = Field(default=None, max_length=254)
    subject: str | None = Field(default=None, max_length=300)
    status: str = Field(max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    message_id: str | None = Field(default=None, max_length=300)
    sent_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
