"""Configuration for every paysaga process, from ``PAYSAGA_*`` environment variables."""

import base64
import binascii
import os
import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic import SecretStr
from pydantic import model_validator
from pydantic_settings import BaseSettings
from pydantic_settings import SettingsConfigDict

from schemas.domain.routing import RoutingPolicy
from schemas.risk_rules import FraudRules
from schemas.tenants import TenantQuotas

TASK_QUEUE = "paysaga-payments"
# Longer than any client's or load balancer's idle timeout (AWS ALB: 60 s), so a client never
# sends on a kept-alive connection at the instant the API closes it (uvicorn's default is 5 s).
API_KEEP_ALIVE_SECONDS = 75


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="PAYSAGA_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        # PAYSAGA_STRIPE_API_KEY= in a .env means "not set", not an empty secret.
        env_ignore_empty=True,
        # A refused setting names the field, never its value: it may be a live key.
        hide_input_in_errors=True,
    )

    data_dir: str = ".paysaga"
    database_url: str = "sqlite:///.paysaga/paysaga.db"
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    # The tenant of the development stack; also every request's tenant when auth is off.
    default_tenant: str = "ten_default"
    # Bearer key for /v1/admin (creating tenants and keys); the admin API is off without it.
    admin_key: SecretStr | None = None
    # Off only in the embedded development stack (`paysaga dev --no-auth`): the API refuses
    # to start with auth off anywhere else, and says so on every start and in /healthz.
    auth_required: bool = True
    # The HMAC key API keys are stored under (api/api_keys.py): a database leak alone then
    # cannot confirm a key. Changing it invalidates every key issued under it. None: an
    # empty pepper (the embedded stack, whose tests issue keys straight into its database).
    api_key_pepper: SecretStr | None = None
    # Failed authentications allowed before 429, per key prefix and per client address
    # (token buckets: a burst, then one more every refill interval), checked before any
    # database read or hashing.
    auth_failures_per_prefix: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    auth_failures_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    auth_failure_refill: timedelta = timedelta(seconds=1)
    # Webhook deliveries whose signature fails, per client address, before 429: checked
    # before the body is verified, so forged deliveries cannot make the API call a
    # provider's verification endpoint (PayPal's) without bound. Refills like the above.
    webhook_rejections_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = 30
    # Wrong admin keys, in buckets of their own: past these the admin API answers 429 per
    # client address, and per credential from all addresses together (the right key too),
    # with one more try per window. Tests that fuzz the admin API with wrong keys raise them.
    admin_auth_failures_per_address: Annotated[int, Field(ge=1, le=1_000_000)] = 10
    admin_auth_failures_per_credential: Annotated[int, Field(ge=1, le=1_000_000)] = 100
    admin_auth_failure_window: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(minutes=5)
    embedded: bool = False
    # Larger request bodies get 413 before they are read into memory (OWASP API4).
    max_body_bytes: int = 64 * 1024
    # A request still running after this answers 503 request_timeout, so a slow Temporal
    # cannot pile up connections; it must leave room for create_wait (checked below).
    request_timeout: timedelta = timedelta(seconds=30)
    # How long an Idempotency-Key and its stored response are kept (never less than 24 h:
    # the window clients are promised, as at Stripe).
    idempotency_retention: Annotated[timedelta, Field(ge=timedelta(hours=24))] = timedelta(hours=24)
    # Per-tenant token bucket (OWASP API4); a tenant's own limit, set through the admin
    # API, overrides these.
    rate_limit_per_second: Annotated[float, Field(gt=0)] = 100.0
    rate_limit_burst: Annotated[int, Field(ge=1)] = 200
    # How many customers, plans, rule set versions, … one tenant may create
    # (PAYSAGA_QUOTAS__CUSTOMERS=…); over one, a create is 409 quota_exceeded.
    quotas: TenantQuotas = Field(default_factory=TenantQuotas)

    # The sandbox gateway is a test provider: its payments are not money. On in the
    # development stack, off in production (docker-compose.yml runs no gateway); with it off,
    # a request naming it is refused and routing never picks it. A process refuses to start
    # with it on next to live credentials, so test payments never fund a balance that a
    # live provider pays out.
    sandbox_enabled: bool = True
    sandbox_gateway_url: str = "http://127.0.0.1:8100"
    # The gateway's credential (it reads the same variable), sent as a bearer token on every
    # call; the embedded stack makes one per start. None: a gateway on loopback without one.
    sandbox_gateway_token: SecretStr | None = None
    # What the gateway signs its webhooks with (it reads the same variable); None: refused.
    sandbox_webhook_secret: SecretStr | None = None
    # Stripe is configured when its key is set (a test key, sk_test_…, for trying it out).
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    # A Connect endpoint's own signing secret: connected accounts' events (their payouts).
    stripe_connect_webhook_secret: SecretStr | None = None
    # Another Stripe-compatible server (localstripe in the tests); None: api.stripe.com.
    stripe_api_base: str | None = None
    # Where Connect (accounts, transfers, payouts) is served; None: stripe_api_base.
    stripe_connect_api_base: str | None = None
    # PayPal is configured when both credentials are set.
    paypal_client_id: str | None = None
    paypal_client_secret: SecretStr | None = None
    paypal_base_url: str = "https://api-m.sandbox.paypal.com"
    # The webhook id PayPal gave our endpoint: part of what its signatures cover.
    paypal_webhook_id: str | None = None
    # Where PayPal sends the buyer after approving or canceling an order.
    paypal_return_url: str = "http://127.0.0.1:8000/paypal/return"
    paypal_cancel_url: str = "http://127.0.0.1:8000/paypal/cancel"
    routing: RoutingPolicy = Field(default_factory=RoutingPolicy)
    # A provider's circuit opens after this many consecutive failures (Unavailable or an
    # unknown outcome), shared by every worker through the database, and lets one probe
    # call through after ``breaker_open_for``.
    breaker_failure_threshold: Annotated[int, Field(ge=1)] = 5
    breaker_open_for: timedelta = timedelta(seconds=30)
    # A provider call that takes longer is treated as OutcomeUnknown and retried with
    # the same idempotency key.
    provider_timeout: timedelta = timedelta(seconds=10)
    # How long a payment's provider call keeps retrying before the payment is left to
    # reconciliation (requires_attention).
    provider_deadline: timedelta = timedelta(minutes=10)
    # The regular activities (provider calls, lookups) one worker runs at once; None: the
    # SDK's default (100). Calls beyond it wait in the task queue, where the Temporal server
    # hands them out in turn per tenant (task queue fairness, keyed by tenant): one
    # tenant's flood cannot hold every slot while another tenant's payment waits behind it.
    worker_activity_slots: Annotated[int, Field(ge=1, le=10_000)] | None = None
    # How often the reconciliation schedule (created by the worker) runs.
    reconciliation_every: timedelta = timedelta(minutes=15)
    # A tenant's report of a day built less than this ago is answered from the store, with no
    # new build; one built after its day (and the matching margin) ended is final.
    reconciliation_report_cooldown: timedelta = timedelta(minutes=5)
    # New report builds a tenant may start per hour (per API process), beyond what is stored.
    reconciliation_reports_per_hour: Annotated[int, Field(ge=1)] = 20

    authorization_hold: timedelta = timedelta(days=7)
    # Recurring billing (subscriptions, installments): after a failed charge, retry this
    # many days after the failure (PAYSAGA_DUNNING_RETRY_DAYS='[1,3,7]'), then give up.
    dunning_retry_days: Annotated[
        list[Annotated[int, Field(ge=1, le=60)]], Field(max_length=10)
    ] = [
        1,
        3,
        7,
    ]
    action_timeout: timedelta = timedelta(hours=1)
    # How long POST /v1/payments waits for the first milestone before answering 202.
    create_wait: timedelta = timedelta(seconds=20)

    # Webhook endpoints must be https and resolve only to public addresses, checked again at
    # every delivery (no loopback, private, link-local or metadata address). True only for
    # local development (``make run`` sets it, with a warning): http and any address.
    webhook_allow_private_urls: bool = False
    # How often the worker's event relay looks for events whose deliveries are not started.
    event_relay_interval: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(milliseconds=500)

    # The SMTP server the worker sends emails through (receipts, dunning, notices). None: no
    # email can be sent; each is retried until one is configured or its window has passed.
    # `make run` points them at its local catcher (workers/stack/smtp_catcher.py).
    smtp_host: str | None = None
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # STARTTLS before authenticating (submission on 587); off only for a local catcher.
    smtp_starttls: bool = True

    fraud: FraudRules = Field(default_factory=FraudRules)
    # The risk model the worker loads once (`paysaga risk train --out DIR`); None: the
    # directory risk-model under data_dir. Without a model, score conditions never fire.
    risk_model_dir: str | None = None

    # Temporal's workflow sandbox re-creates each workflow's module environment on every
    # run: on this machine it cost the worker a third of its CPU and doubled POST p99 at
    # 20 payments/s (docs/benchmarks.md). The workflow and replay tests always run in it,
    # so its determinism checks still guard the code; the worker skips it unless set.
    workflow_sandbox: bool = False

    # Payload encryption (schemas/runtime/payload_codec.py), so the Temporal server stores only
    # ciphertext: key id -> base64 of 32 random bytes (AES-256-GCM),
    # PAYSAGA_PAYLOAD_KEYS='{"k2": "...", "k1": "..."}'. The key named by payload_key_id
    # encrypts; every listed key decrypts, so a rotated-out key still reads old histories.
    # No keys: payloads travel as plain JSON (the worker and API warn at start).
    payload_keys: dict[str, SecretStr] = Field(default_factory=dict)
    payload_key_id: str | None = None
    # With keys set, an unencrypted payload fails the workflow task or activity that reads
    # it (it may be forged by anyone reaching Temporal). True only for a migration window,
    # while histories written before encryption was turned on still run.
    accept_plaintext_payloads: bool = False
    # The operators' credential for the codec endpoint (POST /codec/decode, Authorization:
    # Bearer …) that lets the Temporal UI (through an authenticating proxy) and CLI show
    # decrypted payloads; the endpoint is off without it.
    codec_token: SecretStr | None = None
    # Origins (the Temporal UI's) allowed to call the codec endpoint from a browser.
    codec_cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"]
    )
    # The scraper's credential for the API's GET /metrics (Authorization: Bearer …); when
    # set, a scrape without it is refused with 401. Unset: /metrics is open, as for the
    # embedded stack on loopback.
    metrics_token: SecretStr | None = None
    # How often the API recounts payments for the paysaga_payments gauge (one GROUP BY over
    # the read model); a scrape reads the last count, so scraping costs no SQL.
    metrics_refresh_interval: Annotated[timedelta, Field(gt=timedelta(0))] = timedelta(seconds=30)
    # Where the worker serves Prometheus metrics (its own and the Temporal SDK's), as
    # host:port; None: not served.
    worker_metrics_address: str | None = "127.0.0.1:9464"
    log_format: Literal["json", "text"] = "json"
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _payload_keys_are_usable(self):
        for key_id, key in self.payload_keys.items():
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except binascii.Error:
                raw = b""
            if len(raw) != 32:
                raise ValueError(f"payload key {key_id!r} must be base64 of 32 bytes")
        if self.payload_keys and self.payload_key_id not in self.payload_keys:
            raise ValueError("payload_key_id must name one of payload_keys")
        if self.payload_key_id and not self.payload_keys:
            raise ValueError("payload_key_id is set but payload_keys is empty")
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets(self):
        for name, secret in self.secrets():
            if is_placeholder(secret):
                raise ValueError(f"{name} is a placeholder: set a real secret")
        return self

    def risk_model_path(self) -> str:
        return self.risk_model_dir or os.path.join(self.data_dir, "risk-model")

    def secrets(self) -> list[tuple[str, str]]:
        """Every secret that is set, with its field's name: the SecretStr fields, also as
        dict values (payload_keys). What the logs mask and what must not be a placeholder."""
        found = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            values = value.values() if isinstance(value, dict) else [value]
            found += [(name, v.get_secret_value()) for v in values if isinstance(v, SecretStr)]
        return found

    @model_validator(mode="after")
    def _no_test_provider_next_to_live_credentials(self):
        live = self.live_credentials()
        if self.sandbox_enabled and live:
            raise ValueError(
                f"the sandbox is enabled next to live credentials ({', '.join(live)}): "
                "set PAYSAGA_SANDBOX_ENABLED=false where real money moves"
            )
        return self

    def live_credentials(self) -> list[str]:
        """Which settings move real money: a live Stripe key, PayPal's live API."""
        live = []
        if self.stripe_api_key is not None and is_live_stripe_key(
            self.stripe_api_key.get_secret_value()
        ):
            live.append("PAYSAGA_STRIPE_API_KEY is a live key")
        if urlsplit(self.paypal_base_url).hostname in PAYPAL_LIVE_HOSTS:
            live.append("PAYSAGA_PAYPAL_BASE_URL is PayPal's live API")
        return live

    @model_validator(mode="after")
    def _create_wait_fits_in_the_request_timeout(self):
        if self.create_wait >= self.request_timeout:
            raise ValueError("create_wait must be shorter than request_timeout")
        return self


# What example files and tutorials put where a secret belongs (docker-compose.yml refuses
# them as well): a process started with one of them must not look configured.
_PLACEHOLDER = re.compile(
    r"^(change[-_ ]?me|changeit|replace[-_ ]?me|placeholder|example|secret|password|"
    r"todo|xxx+|<[^>]*>|\$\{[^}]*\})$|(change[-_]?me|replace[-_]?me|placeholder)",
    re.IGNORECASE,
)


# Stripe's live secret and restricted keys; test keys are sk_test_/rk_test_.
_LIVE_STRIPE_KEY = re.compile(r"^(sk|rk)_live_")
PAYPAL_LIVE_HOSTS = frozenset({"api-m.paypal.com", "api.paypal.com"})


def is_live_stripe_key(key: str) -> bool:
    return bool(_LIVE_STRIPE_KEY.match(key.strip()))


def is_placeholder(secret: str) -> bool:
    return not secret.strip() or bool(_PLACEHOLDER.search(secret.strip()))


@lru_cache
def get_settings() -> Settings:
    return Settings()
