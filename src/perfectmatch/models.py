"""Domain types shared by every subpackage: users, profiles, preferences, answers, matches and more.

All models are frozen pydantic v2 models. Invalid values are refused at construction with a
``pydantic.ValidationError`` whose entries name the field and the offending value
(``errors.describe_validation_error`` renders it as one line).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

UserId = int
MIN_AGE = 18
MAX_AGE = 120


class Frozen(BaseModel):
    """Base for immutable domain values."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Gender(StrEnum):
    """Gender codes; preferences refer to the same codes."""

    MAN = "man"
    WOMAN = "woman"
    NONBINARY = "nonbinary"


class UserStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETED = "deleted"


class Tier(StrEnum):
    FREE = "free"
    PREMIUM = "premium"


class RelationshipGoal(StrEnum):
    """What a user is looking for; ``matching.prefilter`` says which goals are compatible."""

    MARRIAGE = "marriage"
    LONG_TERM = "long_term"
    CASUAL = "casual"
    FRIENDSHIP = "friendship"
    UNSURE = "unsure"


class Dimension(StrEnum):
    """The five compatibility dimensions scored by the questionnaire."""

    RC = "RC"  # relationship compatibility
    CS = "CS"  # communication style
    EI = "EI"  # emotional intelligence
    LC = "LC"  # lifestyle compatibility
    CV = "CV"  # core values alignment


Importance = Annotated[int, Field(ge=1, le=10, description="how much the answer matters, 1-10")]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]


def age_on(birth_date: date, day: date) -> int:
    """Whole years between ``birth_date`` and ``day``."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


class GeoPoint(Frozen):
    """A location: WGS84 latitude/longitude in degrees plus a human place name."""

    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    place: str = Field(default="", max_length=120)


class User(Frozen):
    """An account: lifecycle status, tier and activity times (UTC)."""

    id: UserId | None = None
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    status: UserStatus = UserStatus.ACTIVE
    tier: Tier = Tier.FREE
    created_at: datetime
    last_active_at: datetime
    source: str | None = Field(default=None, max_length=40, description="import source, e.g. 'okcupid'")
    source_id: str | None = Field(default=None, max_length=80)

    @model_validator(mode="after")
    def _times_ordered(self) -> Self:
        if self.last_active_at < self.created_at:
            raise ValueError(f"last_active_at {self.last_active_at} is before created_at {self.created_at}")
        return self

    def is_active_on(self, day: date, *, window_days: int = 30) -> bool:
        """Active = status active and seen within ``window_days`` before ``day``."""
        return self.status is UserStatus.ACTIVE and (day - self.last_active_at.date()).days <= window_days


class Profile(Frozen):
    """What other users see: name, age, gender, place, photos and bio."""

    user_id: UserId
    display_name: str = Field(min_length=1, max_length=80)
    birth_date: date
    gender: Gender
    location: GeoPoint
    photos: tuple[str, ...] = ()
    bio: str = Field(default="", max_length=5000)

    @field_validator("birth_date")
    @classmethod
    def _adult(cls, v: date) -> date:
        age = age_on(v, date.today())
        if age < MIN_AGE:
            raise ValueError(f"age must be at least {MIN_AGE}, birth date {v} gives {age}")
        if age > MAX_AGE:
            raise ValueError(f"birth date {v} gives an implausible age {age}")
        return v

    def age_on(self, day: date) -> int:
        return age_on(self.birth_date, day)


class Preferences(Frozen):
    """Whom a user wants to meet: genders, age range, radius, relationship goal, dealbreakers."""

    user_id: UserId
    genders_sought: frozenset[Gender] = Field(min_length=1)
    age_min: int = Field(ge=MIN_AGE, le=MAX_AGE)
    age_max: int = Field(ge=MIN_AGE, le=MAX_AGE)
    radius_km: float = Field(gt=0.0, le=20_000.0)
    goal: RelationshipGoal
    dealbreakers: frozenset[str] = frozenset()

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.age_min > self.age_max:
            raise ValueError(f"age range is inverted: age_min {self.age_min} > age_max {self.age_max}")
        return self


AnswerValue = str | int | float | tuple[str, ...]


class Answer(Frozen):
    """One structured answer with its importance and the seconds the user took."""

    question_id: str = Field(min_length=1, max_length=64)
    value: AnswerValue
    importance: Importance = 5
    seconds: float | None = Field(default=None, ge=0.0)


class QuestionnaireResponse(Frozen):
    """A user's questionnaire: structured answers, open-ended texts and the bank version used."""

    user_id: UserId
    bank_version: str = Field(min_length=1, max_length=40)
    answers: tuple[Answer, ...] = ()
    open_texts: dict[str, str] = Field(default_factory=dict)
    open_texts_missing_reason: str | None = Field(
        default=None, max_length=200, description="why there are no open texts (e.g. not in the source data)"
    )
    dimension_scores: dict[Dimension, float] = Field(default_factory=dict)
    completed_at: datetime | None = None

    @field_validator("answers")
    @classmethod
    def _unique(cls, v: tuple[Answer, ...]) -> tuple[Answer, ...]:
        seen: set[str] = set()
        for a in v:
            if a.question_id in seen:
                raise ValueError(f"question {a.question_id!r} is answered twice")
            seen.add(a.question_id)
        return v

    @field_validator("open_texts")
    @classmethod
    def _text_len(cls, v: dict[str, str]) -> dict[str, str]:
        for key, text in v.items():
            if len(text) > 5000:
                raise ValueError(f"open text {key!r} is {len(text)} characters long (max 5000)")
        return v


class ProfileVector(Frozen):
    """A user's L2-normalised feature vector, tagged with the version that produced it."""

    user_id: UserId
    version: str = Field(min_length=1, max_length=80, description="questionnaire + embedder version")
    values: tuple[float, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _finite_unit(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(x) for x in v):
            raise ValueError("vector has a non-finite component")
        norm = math.sqrt(sum(x * x for x in v))
        if abs(norm - 1.0) > 1e-3:
            raise ValueError(f"vector must be L2-normalised, norm is {norm:.4f}")
        return v


class MatchStatus(StrEnum):
    OFFERED = "offered"
    MUTUAL = "mutual"
    UNMATCHED = "unmatched"
    BLOCKED = "blocked"


class ScoreSource(StrEnum):
    """Where a final score came from."""

    LLM = "llm"
    CACHE = "cache"
    FALLBACK = "fallback"
    VECTOR = "vector"


def _ordered_pair(a: int, b: int, what: str) -> None:
    if a == b:
        raise ValueError(f"{what} needs two different users, got {a} twice")


class Match(Frozen):
    """A pair offered to each other on ``day``; ``user_a < user_b`` always."""

    user_a: UserId
    user_b: UserId
    day: date
    vector_score: Unit
    ai_score: float | None = Field(default=None, ge=0.0, le=100.0)
    final_score: float = Field(ge=0.0, le=100.0)
    source: ScoreSource
    insight_id: str | None = None
    status: MatchStatus = MatchStatus.OFFERED

    @model_validator(mode="after")
    def _pair(self) -> Self:
        _ordered_pair(self.user_a, self.user_b, "a match")
        if self.user_a > self.user_b:
            raise ValueError(f"user_a {self.user_a} must be < user_b {self.user_b}")
        return self


class Like(Frozen):
    liker: UserId
    likee: UserId
    created_at: datetime

    @model_validator(mode="after")
    def _pair(self) -> Self:
        _ordered_pair(self.liker, self.likee, "a like")
        return self


class Block(Frozen):
    blocker: UserId
    blocked: UserId
    created_at: datetime

    @model_validator(mode="after")
    def _pair(self) -> Self:
        _ordered_pair(self.blocker, self.blocked, "a block")
        return self


class Conversation(Frozen):
    id: int | None = None
    user_a: UserId
    user_b: UserId
    created_at: datetime
    active: bool = True

    @model_validator(mode="after")
    def _pair(self) -> Self:
        _ordered_pair(self.user_a, self.user_b, "a conversation")
        return self


class MessageKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Message(Frozen):
    id: int | None = None
    conversation_id: int
    sender_id: UserId
    kind: MessageKind = MessageKind.TEXT
    body: str = Field(min_length=1, max_length=10_000)
    created_at: datetime
    delivery: DeliveryStatus = DeliveryStatus.PENDING


class SubscriptionState(StrEnum):
    INCOMPLETE = "incomplete"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELING = "canceling"
    CANCELED = "canceled"
    EXPIRED = "expired"


class Subscription(Frozen):
    id: int | None = None
    user_id: UserId
    plan_id: str = Field(min_length=1, max_length=40)
    state: SubscriptionState
    period_start: datetime | None = None  # None until the first payment (state incomplete)
    period_end: datetime | None = None
    card_last4: str | None = Field(default=None, pattern=r"^\d{4}$")
    card_brand: str | None = Field(default=None, max_length=20)
    provider_ref: str | None = Field(default=None, max_length=80)

    @model_validator(mode="after")
    def _period(self) -> Self:
        if (self.period_start is None) != (self.period_end is None):
            raise ValueError("period_start and period_end are set together")
        if self.period_start is not None and self.period_end is not None and self.period_end <= self.period_start:
            raise ValueError(f"period_end {self.period_end} must be after period_start {self.period_start}")
        return self


class NotificationType(StrEnum):
    NEW_MATCH = "new_match"
    MESSAGE = "message"
    LIKE = "like"
    MUTUAL_MATCH = "mutual_match"
    SUBSCRIPTION = "subscription"
    ACCOUNT = "account"  # transactional account email (verification); sent directly, never stored


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Channels(Frozen):
    push: bool = True
    in_app: bool = True
    email: bool = False


class Notification(Frozen):
    """A notification in the spec's shape (ids, type, priority, content, channels, status, times)."""

    id: str = Field(min_length=1, max_length=80, description="idempotency key, e.g. 'batch:2026-11-25:42'")
    user_id: UserId
    type: NotificationType
    priority: Priority = Priority.MEDIUM
    content: dict[str, Any] = Field(default_factory=dict)
    channels: Channels = Channels()
    delivered: bool = False
    read: bool = False
    created_at: datetime
    delivered_at: datetime | None = None
    read_at: datetime | None = None


class NotificationPreferences(Frozen):
    """Per-type switches, channel choices and quiet hours (local time in ``timezone``)."""

    user_id: UserId
    enabled: dict[NotificationType, bool] = Field(default_factory=dict)
    channels: Channels = Channels()
    quiet_start: time | None = None
    quiet_end: time | None = None
    timezone: str = "UTC"
    max_per_hour: int = Field(default=10, ge=1, le=1000)

    def allows(self, kind: NotificationType) -> bool:
        return self.enabled.get(kind, True)


class Member(Frozen):
    """Everything the batch needs about one user, loaded together."""

    user: User
    profile: Profile
    preferences: Preferences
    response: QuestionnaireResponse | None = None
