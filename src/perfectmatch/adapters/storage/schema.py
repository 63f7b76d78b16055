"""Database schema as SQLAlchemy Core tables; Alembic migrations are generated from this metadata."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit ids on PostgreSQL, rowid-backed INTEGER on SQLite (so autoincrement works there).
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given; use timezone-aware UTC")
        return value.astimezone(UTC).replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _user_fk() -> ForeignKey:
    return ForeignKey("users.id", ondelete="CASCADE")


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("email", String(254), unique=True),
    Column("status", String(12), nullable=False),
    Column("tier", String(10), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_active_at", UTCDateTime, nullable=False),
    Column("source", String(40)),
    Column("source_id", String(80)),
    UniqueConstraint("source", "source_id", name="uq_users_source_source_id"),
    Index("ix_users_last_active_at", "last_active_at"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("display_name", String(80), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("gender", String(12), nullable=False),
    Column("lat", Float, nullable=False),
    Column("lon", Float, nullable=False),
    Column("place", String(120), nullable=False, default=""),
    Column("photos", JSON, nullable=False, default=list),
    Column("bio", Text, nullable=False, default=""),
)

preferences = Table(
    "preferences",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("genders_sought", String(40), nullable=False),  # comma-separated Gender codes, sorted
    Column("age_min", SmallInteger, nullable=False),
    Column("age_max", SmallInteger, nullable=False),
    Column("radius_km", Float, nullable=False),
    Column("goal", String(16), nullable=False),
    Column("dealbreakers", JSON, nullable=False, default=list),
)

responses = Table(
    "responses",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("bank_version", String(40), nullable=False),
    Column("answers", JSON, nullable=False),  # [[question_id, value, importance, seconds], ...]
    Column("open_texts", JSON, nullable=False),
    Column("open_texts_missing_reason", String(200)),
    Column("dimension_scores", JSON, nullable=False),
    Column("completed_at", UTCDateTime),
)

profile_vectors = Table(
    "profile_vectors",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("version", String(80), nullable=False),
    Column("dim", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),  # little-endian float32, dim values
    Column("importance", LargeBinary),  # little-endian float32, 5 values (Dimension order)
    Column("completeness", Float),  # profile-completeness factor 0.8-1.0
)

matches = Table(
    "matches",
    metadata,
    Column("user_a", Id, _user_fk(), primary_key=True),
    Column("user_b", Id, _user_fk(), primary_key=True),
    Column("day", Date, nullable=False),
    Column("vector_score", Float, nullable=False),
    Column("ai_score", Float),
    Column("final_score", Float, nullable=False),
    Column("source", String(12), nullable=False),
    Column("insight_id", String(80)),
    Column("status", String(12), nullable=False),
    Index("ix_matches_day", "day"),
    Index("ix_matches_user_b", "user_b"),
)

likes = Table(
    "likes",
    metadata,
    Column("liker", Id, _user_fk(), primary_key=True),
    Column("likee", Id, _user_fk(), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_likes_likee", "likee"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("blocker", Id, _user_fk(), primary_key=True),
    Column("blocked", Id, _user_fk(), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_a", Id, _user_fk(), nullable=False),
    Column("user_b", Id, _user_fk(), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("active", Boolean, nullable=False),
    UniqueConstraint("user_a", "user_b", name="uq_conversations_pair"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False),
    Column("sender_id", Id, _user_fk(), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivery", String(12), nullable=False),
    Index("ix_messages_conversation", "conversation_id", "id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, _user_fk(), nullable=False, index=True),
    Column("plan_id", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("period_start", UTCDateTime),  # NULL until the first payment (billing: incomplete)
    Column("period_end", UTCDateTime),
    Column("card_last4", String(4)),
    Column("card_brand", String(20)),
    Column("provider_ref", String(80)),
    # --- billing (issue 7): one row per user, written by adapters.storage.billing
    Column("customer_ref", String(80)),
    Column("card_exp_month", SmallInteger),
    Column("card_exp_year", SmallInteger),
    Column("failed_attempts", SmallInteger, nullable=False, server_default="0"),
    Column("first_failure_at", UTCDateTime),
    Column("next_retry_at", UTCDateTime),
    Column("cancel_requested_at", UTCDateTime),
    Column("ended_at", UTCDateTime),
    Column("provider_target", String(16)),
    Column("provider_deleted", Boolean, nullable=False, server_default="0"),
    Column("last_event_created", BigInteger),
    Column("last_event_id", String(80)),
)

billing_payments = Table(  # the payments ledger: every charge attempt; one success per period at most
    "billing_payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, _user_fk(), nullable=False, index=True),
    Column("plan_id", String(40), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("period_key", String(80), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("idempotency_key", String(120), nullable=False),
    Column("provider_ref", String(80)),
    Column("failure_code", String(40)),
    Column("period_start", UTCDateTime),
    Column("period_end", UTCDateTime),
)
Index("uq_billing_payments_paid_period", billing_payments.c.period_key, unique=True,
      sqlite_where=billing_payments.c.ok, postgresql_where=billing_payments.c.ok)

billing_transitions = Table(  # every subscription state change, in order
    "billing_transitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, _user_fk(), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("from_state", String(16), nullable=False),
    Column("event", String(24), nullable=False),
    Column("to_state", String(16), nullable=False),
)

billing_notices = Table(  # billing notices already sent (reminders, card expiry ...), by idempotency key
    "billing_notices",
    metadata,
    Column("key", String(80), primary_key=True),
)

billing_settings = Table(  # preference settings saved at a downgrade, restored on a resubscription
    "billing_settings",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("saved_at", UTCDateTime, nullable=False),
)

webhook_events = Table(  # durable log of every webhook delivery and what was done with it
    "webhook_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(80), index=True),
    Column("event_type", String(80)),
    Column("received_at", UTCDateTime, nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("detail", Text, nullable=False),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", String(80), primary_key=True),
    Column("user_id", Id, _user_fk(), nullable=False),
    Column("type", String(16), nullable=False),
    Column("priority", String(8), nullable=False),
    Column("content", JSON, nullable=False),
    Column("channels", JSON, nullable=False),
    Column("delivered", Boolean, nullable=False),
    Column("read", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("delivered_at", UTCDateTime),
    Column("read_at", UTCDateTime),
    Index("ix_notifications_user_created", "user_id", "created_at"),
)

notification_prefs = Table(
    "notification_prefs",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("data", JSON, nullable=False),
)

batch_runs = Table(
    "batch_runs",
    metadata,
    Column("day", Date, primary_key=True),
    Column("status", String(12), nullable=False),  # running | done | failed
    Column("owner", String(64), nullable=False),  # lock holder token
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("stages", JSON, nullable=False),  # {stage: {"seconds": s, ...counts}} in completion order
    Column("summary", JSON),
)

insights = Table(
    "insights",
    metadata,
    Column("id", String(80), primary_key=True),  # "<day>:<user_a>:<user_b>"
    Column("user_a", Id, _user_fk(), nullable=False),
    Column("user_b", Id, _user_fk(), nullable=False),
    Column("day", Date, nullable=False),
    Column("source", String(12), nullable=False),
    Column("score", Float, nullable=False),
    Column("basic", JSON, nullable=False),
    Column("premium", JSON, nullable=False),
    Index("ix_insights_day", "day"),
)

analysis_queue = Table(
    "analysis_queue",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("kind", String(24), primary_key=True),  # e.g. profile_analysis
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(300)),
    Column("payload", JSON),  # the questionnaire data to analyse (latest wins)
    Column("claimed_until", Float, nullable=False, server_default="0"),  # unix seconds of the lease
)

profile_insights = Table(
    "profile_insights",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("summary", Text, nullable=False),
    Column("key_traits", JSON, nullable=False),
    Column("source", String(12), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

audit_log = Table(  # security events (suspensions, exports, erasures, logins, webhook failures); append-only
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("kind", String(40), nullable=False, index=True),
    Column("user_id", Id, index=True),  # no foreign key: the record outlives the user (and may name none)
    Column("actor", String(80), nullable=False, server_default=""),
    Column("detail", JSON, nullable=False),
)

# --- accounts (issue 6 item 1): login email + password hash, verification tokens, social identities, throttling
credentials = Table(  # one row per account that has a login email (password accounts and social ones)
    "credentials",
    metadata,
    Column("user_id", Id, _user_fk(), primary_key=True),
    Column("email", String(254), nullable=False, unique=True),  # normalized (trimmed, lower-case)
    Column("password_hash", String(255)),  # argon2id PHC string; NULL for social-only accounts
    Column("verified_at", UTCDateTime),  # NULL until the email is verified (or the provider vouched for it)
    Column("created_at", UTCDateTime, nullable=False),
)

email_tokens = Table(  # email verification tokens; only a hash of the token is stored
    "email_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, _user_fk(), nullable=False, index=True),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole token
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),  # superseded by a newer token (resend)
)

external_identities = Table(  # a social-login identity: (provider, subject) names exactly one user
    "external_identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(40), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("user_id", Id, _user_fk(), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("provider", "subject", name="uq_external_identities_provider_subject"),
)

login_throttle = Table(  # failed-login state per login key (HMAC of the normalized email: no address stored)
    "login_throttle",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
)

# --- photos (issue 6, photo uploads): metadata; the bytes live in a blob store under blob_key
photos = Table(
    "photos",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, _user_fk(), nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("blob_key", String(255), nullable=False, unique=True),
    Column("content_type", String(40), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("has_face", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
