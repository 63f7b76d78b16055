"""Settings: every knob, read from ``PERFECTMATCH_*`` environment variables (nested with ``__``).

Only ``bootstrap`` and the CLI build ``Settings``; core functions receive a section
(``MatchingSettings``, ``AISettings`` ...) or plain arguments. Secrets are ``SecretStr`` and never
printed. ``Settings.describe()`` lists every variable for the README and ``doctor``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CacheSettings(BaseModel):
    """Where cached values live: a local diskcache directory (default), Redis, or nowhere."""

    backend: Literal["disk", "redis", "none"] = Field(default="disk", description="disk | redis | none")
    dir: Path = Field(default=Path(".perfectmatch-cache"), description="diskcache directory (owner-only)")
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="used when backend=redis")
    namespace: str = Field(default="pm", description="key prefix, so several apps can share a Redis")


class MatchingSettings(BaseModel):
    """Numbers of the daily batch; defaults are the spec's."""

    similarity_threshold: float = Field(
        default=0.65, ge=0.0, le=1.0, description="minimum vector similarity (0-1) of a candidate"
    )
    top_k: int = Field(default=50, ge=1, le=1000, description="candidates kept per user")
    min_compatibility: float = Field(default=70.0, ge=0.0, le=100.0, description="delivery threshold, 0-100")
    free_daily_cap: int = Field(default=10, ge=0, description="new matches a day, free tier")
    premium_daily_cap: int = Field(default=50, ge=0, description="new matches a day, premium tier")
    active_window_days: int = Field(default=30, ge=1, description="active = seen within this many days")
    new_user_days: int = Field(default=7, ge=0, description="first-week visibility boost")
    min_pool: int = Field(default=20, ge=0, description="expand the radius when fewer candidates pass")
    max_radius_km: float = Field(default=200.0, gt=0, description="radius expansion never goes beyond this")
    ai_stage: bool = Field(default=True, description="false: vector-only scores, no AI analysis stage")
    ai_shortlist_factor: int = Field(default=2, ge=1, description="AI analyses each user's best cap x this pairs")
    vector_block_dim: int = Field(
        default=0, ge=0, description="project each vector block to this many dims (0: off; speed vs quality)"
    )
    mode: Literal["exact", "approx"] = Field(
        default="exact", description="candidate generation: exact | approx (hnswlib)"
    )
    assignment: Literal["greedy", "global"] = Field(
        default="global", description="distribution: global (fair b-matching) | greedy"
    )
    engine: Literal["local", "dask"] = Field(
        default="local", description="where exact candidates are computed: local (this process) | dask (a cluster)"
    )
    workers: int = Field(
        default=0, ge=0, description="threads of the local exact engine (0: one per available core; same results)"
    )

    def engine_threads(self) -> int:
        """Threads for the local exact engine: ``workers``, or one per core this process may use."""
        if self.workers:
            return self.workers
        try:
            return max(len(os.sched_getaffinity(0)), 1)
        except AttributeError:  # pragma: no cover - platforms without affinity (macOS, Windows)
            return max(os.cpu_count() or 1, 1)


class AISettings(BaseModel):
    """AI providers. With OPENAI_API_KEY set OpenAI is used; DEEPSEEK_API_KEY adds the backup."""

    provider: Literal["auto", "local", "openai", "deepseek"] = Field(
        default="auto", description="auto: by which API keys are set"
    )
    openai_api_key: SecretStr | None = Field(default=None, description="or OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, description="or OPENAI_BASE_URL")
    openai_model: str = Field(default="gpt-4o-mini", description="OpenAI chat model")
    openai_embedding_model: str = Field(default="text-embedding-3-small", description="OpenAI embeddings model")
    deepseek_api_key: SecretStr | None = Field(default=None, description="or DEEPSEEK_API_KEY")
    deepseek_base_url: str = Field(default="https://api.deepseek.com", description="or DEEPSEEK_BASE_URL")
    deepseek_model: str = Field(default="deepseek-chat", description="DeepSeek chat model")
    batch_size: int = Field(default=50, ge=1, le=200, description="pairs per compatibility request")
    timeout_s: float = Field(default=15.0, gt=0, description="timeout of one provider call")
    max_attempts: int = Field(default=3, ge=1, le=10, description="attempts per provider call")
    failure_rate_switch: float = Field(
        default=0.10, ge=0.0, le=1.0, description="OpenAI failure rate that moves traffic to DeepSeek"
    )
    # --- AI resilience, limits and accounting (issue 5; additive)
    max_retries: int = Field(default=3, ge=0, le=10, description="retries per batch across providers")
    batch_deadline_s: float = Field(default=45.0, gt=0, description="one deadline per batch, all attempts")
    backup_reserve_s: float = Field(default=15.0, ge=0, description="time the primary leaves for the backup")
    concurrency: int = Field(default=4, ge=1, le=64, description="AI requests in flight")
    backoff_base_s: float = Field(default=0.5, ge=0, description="first retry delay (exponential, with jitter)")
    backoff_max_s: float = Field(default=8.0, ge=0, description="longest retry delay")
    breaker_failures: int = Field(default=5, ge=1, description="consecutive failures that open a breaker")
    breaker_reset_s: float = Field(default=30.0, gt=0, description="open time before a trial call")
    router_window: int = Field(default=20, ge=1, description="primary calls in the failure-rate window")
    router_min_samples: int = Field(default=10, ge=1, description="calls in the window before the failure rate counts")
    router_probe_s: float = Field(default=30.0, gt=0, description="probe the primary this often when switched")
    openai_rpm: int = Field(default=500, ge=0, description="requests per minute (0: no limit)")
    openai_tpm: int = Field(default=200_000, ge=0, description="tokens per minute (0: no limit)")
    deepseek_rpm: int = Field(default=0, ge=0, description="DeepSeek requests per minute (0: unlimited)")
    deepseek_tpm: int = Field(default=0, ge=0, description="DeepSeek tokens per minute (0: unlimited)")
    run_budget_usd: float | None = Field(default=None, ge=0, description="stop spending (fall back) after this")
    prices_per_1k: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {
            "gpt-4o-mini": (0.00015, 0.0006),
            "gpt-4o": (0.0025, 0.01),
            "deepseek-chat": (0.00027, 0.0011),
        },
        description="model -> (USD per 1K prompt tokens, per 1K completion tokens)",
    )
    ttl_match_s: float = Field(default=24 * 3600.0, gt=0, description="match analysis cache TTL")
    ttl_profile_s: float = Field(default=7 * 24 * 3600.0, gt=0, description="profile analysis cache TTL")
    ttl_starters_s: float = Field(default=12 * 3600.0, gt=0, description="conversation starters cache TTL")


class BillingSettings(BaseModel):
    """Plans and prices (integer minor units, never floats); ids match the payment provider's."""

    monthly_price_minor: int = Field(default=1999, gt=0, description="premium monthly price in minor units")
    annual_price_minor: int = Field(default=19999, gt=0, description="premium annual price in minor units")
    currency: str = Field(default="usd", min_length=3, max_length=3, description="ISO 4217 code")
    monthly_plan_id: str = Field(default="premium_monthly", description="plan id of the monthly plan")
    annual_plan_id: str = Field(default="premium_annual", description="plan id of the annual plan")

    def plans(self) -> dict[str, Any]:
        """The configured plans (``billing.plans.default_plans``)."""
        from perfectmatch.billing.plans import default_plans

        return default_plans(monthly_minor=self.monthly_price_minor, annual_minor=self.annual_price_minor,
                             currency=self.currency, monthly_id=self.monthly_plan_id,
                             annual_id=self.annual_plan_id)


class PhotoSettings(BaseModel):
    """Profile photo uploads: where blobs live, limits checked before decoding, the face check."""

    blob_dir: Path = Field(default=Path(".perfectmatch-blobs"), description="local blob store directory (owner-only)")
    max_photos: int = Field(default=6, ge=1, le=50, description="photos a profile may hold")
    max_bytes: int = Field(default=10_000_000, ge=1024, description="largest upload, in bytes")
    max_pixels: int = Field(
        default=40_000_000, ge=1, le=89_000_000, description="largest upload, width x height (read before decoding)"
    )
    min_side: int = Field(default=200, ge=1, description="shortest side, in pixels, an upload may have")
    stored_side: int = Field(default=2048, ge=64, description="stored photos are scaled down to this longest side")
    jpeg_quality: int = Field(default=88, ge=30, le=95, description="JPEG quality of the stored (re-encoded) photo")
    require_face: bool = Field(default=True, description="refuse photos in which the face check finds no face")
    face_min_ratio: float = Field(
        default=0.1, gt=0.0, le=1.0, description="smallest face side as a fraction of the photo's shorter side"
    )


class DaskSettings(BaseModel):
    """The Dask engine (``matching.engine=dask``): a scheduler to use, or a local cluster to start."""

    scheduler: str | None = Field(
        default=None, description="scheduler address, e.g. tcp://host:8786 (unset: start a local cluster)"
    )
    workers: int = Field(default=2, ge=1, description="worker processes of the local cluster (one thread each)")
    partitions: int = Field(default=0, ge=0, description="geographic partitions (0: one per worker)")
    connect_timeout_s: float = Field(default=10.0, gt=0, description="how long to wait for the scheduler")


class OidcProviderSettings(BaseModel):
    """One OpenID Connect identity provider trusted for social login."""

    issuer: str = Field(description="exact ``iss`` claim, e.g. https://accounts.google.com")
    audience: str = Field(description="our client id: the ``aud`` claim the ID token must carry")
    jwks_url: str = Field(description="where the provider publishes its signing keys (JWKS)")


class AccountSettings(BaseModel):
    """Accounts: verification tokens, password policy, login throttling and trusted social-login providers."""

    token_secret: SecretStr | None = Field(
        default=None, description="HMAC key (>= 32 chars) for verification tokens and throttle keys; required"
    )
    verify_token_ttl_s: float = Field(default=24 * 3600.0, gt=0, description="verification token lifetime")
    resend_interval_s: float = Field(
        default=60.0, ge=0, description="shortest time between two verification emails to one account"
    )
    min_password_length: int = Field(default=10, ge=8, le=64, description="shortest password accepted")
    max_login_failures: int = Field(default=5, ge=1, description="failed logins in the window that lock the email")
    failure_window_s: float = Field(
        default=900.0, gt=0, description="failed logins less than this apart count towards the lock"
    )
    lockout_s: float = Field(default=900.0, gt=0, description="how long a locked email refuses logins")
    oidc_providers: dict[str, OidcProviderSettings] = Field(
        default={}, description='JSON: {"name": {"issuer", "audience", "jwks_url"}}'
    )
    oidc_leeway_s: float = Field(default=60.0, ge=0, le=600, description="clock skew allowed on ID-token times")
    jwks_cache_s: float = Field(default=3600.0, gt=0, description="how long fetched provider keys are reused")


class NotifySettings(BaseModel):
    """Notification channels: in-app always; email when ``smtp_host`` is set; push when ``fcm_project_id`` is."""

    smtp_host: str | None = Field(default=None, description="SMTP server for email notifications (unset: no email)")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="SMTP port (587 with STARTTLS)")
    smtp_username: str | None = Field(default=None, description="SMTP login, if the server needs one")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password")
    smtp_from: str = Field(default="perfectmatch@localhost", description="From address of notification emails")
    smtp_starttls: bool = Field(default=False, description="upgrade the SMTP connection with STARTTLS")
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="SMTP socket timeout")
    fcm_project_id: str | None = Field(default=None, description="Firebase project for push (unset: no push)")
    fcm_access_token: SecretStr | None = Field(default=None, description="FCM OAuth2 bearer token")
    fcm_token_file: Path | None = Field(
        default=None, description="file holding the current FCM bearer token (re-read per send; kept fresh outside)"
    )
    fcm_base_url: str = Field(default="https://fcm.googleapis.com", description="FCM HTTP v1 endpoint")
    retry_attempts: int = Field(default=4, ge=1, le=20, description="delivery attempts per notification")


class Settings(BaseSettings):
    """All configuration. ``Settings(_env_file=None, db_url=...)`` in tests."""

    model_config = SettingsConfigDict(
        env_prefix="PERFECTMATCH_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    db_url: str = Field(default="sqlite:///perfectmatch.db", description="SQLAlchemy URL; postgresql+psycopg://...")
    auto_migrate: bool = Field(default=True, description="apply database migrations on start-up")
    seed: int = Field(default=0, description="seed for every random choice the library makes")
    log_level: str = Field(default="WARNING", description="logging level of the perfectmatch loggers")
    embedder: Literal["hashing", "openai"] = Field(default="hashing", description="text embedder")
    cache: CacheSettings = CacheSettings()
    matching: MatchingSettings = MatchingSettings()
    ai: AISettings = AISettings()
    billing: BillingSettings = BillingSettings()
    read_only: bool = Field(
        default=False, description="refuse every write in this process (runtime switch: `perfectmatch read-only on`)"
    )
    read_only_check_s: float = Field(
        default=2.0, ge=0, description="seconds a process may take to notice `perfectmatch read-only on|off`"
    )
    photos: PhotoSettings = PhotoSettings()
    accounts: AccountSettings = AccountSettings()
    dask: DaskSettings = DaskSettings()
    notify: NotifySettings = NotifySettings()
    log_format: Literal["text", "json"] = Field(
        default="text", description="text | json (one redacted JSON object per line; CLI: --log-json)"
    )
    tracing: bool = Field(default=False, description="OpenTelemetry span per batch stage (needs the otel extra)")


def env_variables() -> list[tuple[str, str, str]]:
    """Every environment variable Settings reads, as (name, default, description) rows."""
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(ann, f"{prefix}{name.upper()}__")
                continue
            default = field.default
            shown = "" if default is None else str(default.value if hasattr(default, "value") else default)
            rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))

    walk(Settings, "PERFECTMATCH_")
    return rows
