"""Every Protocol through which the core reaches the outside world: storage, cache, clock, AI and more.

Adapters in ``perfectmatch.adapters`` implement these; tests use the real SQLite/PostgreSQL/Redis
adapters or small public fakes. The core never imports an adapter, only these roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

import numpy as np

from perfectmatch.frame import MatchBatch, PopulationFrame, VectorSet
from perfectmatch.models import (
    Block,
    Conversation,
    Like,
    Match,
    Member,
    Message,
    Notification,
    NotificationPreferences,
    Preferences,
    Profile,
    ProfileVector,
    QuestionnaireResponse,
    Subscription,
    User,
    UserId,
)

M = TypeVar("M")
K = TypeVar("K", contravariant=True)


# ---------------------------------------------------------------- time
@runtime_checkable
class Clock(Protocol):
    """The only source of "now" (timezone-aware UTC). Tests pass a ``FakeClock``."""

    def now(self) -> datetime: ...


# ---------------------------------------------------------------- progress
class Progress(Protocol):
    """Progress sink for long work: ``start(task, total)`` once, then ``advance(task, n)``."""

    def start(self, task: str, total: int | None) -> None: ...

    def advance(self, task: str, n: int = 1) -> None: ...


class _NoProgress:
    def start(self, task: str, total: int | None) -> None:
        pass

    def advance(self, task: str, n: int = 1) -> None:
        pass


NO_PROGRESS: Progress = _NoProgress()


# ---------------------------------------------------------------- storage
class Repository(Protocol[K, M]):
    """Store and fetch one aggregate type by its key."""

    def add(self, item: M) -> M:
        """Insert or replace ``item``; returns it with its generated id, if it has one."""
        ...

    def get(self, key: K) -> M:
        """Return the aggregate with ``key`` or raise ``errors.NotFound``."""
        ...

    def find(self, key: K) -> M | None:
        """Return the aggregate with ``key`` or ``None``."""
        ...

    def add_many(self, items: Iterable[M]) -> int:
        """Bulk insert-or-replace in a few statements; returns how many were written."""
        ...

    def count(self) -> int: ...


class UserRepository(Repository[UserId, User], Protocol):
    def ids_by_source(self, source: str) -> dict[str, UserId]:
        """Map every ``source_id`` imported from ``source`` to its user id."""
        ...


class PopulationRepository(Protocol):
    """Set-based access for batch paths: whole populations in and out as columnar frames."""

    def save(self, frame: PopulationFrame, responses: Sequence[QuestionnaireResponse] = ()) -> np.ndarray:
        """Insert every user of ``frame`` (ids ignored) with profile, preferences and responses.

        Returns the new user ids, in frame order, shape ``(n,)`` int64.
        """
        ...

    def load(self, *, active_on: date | None = None, window_days: int = 30) -> PopulationFrame:
        """Load users (only those active on ``active_on`` if given) with profiles and preferences."""
        ...

    def raw_responses(self, ids: Sequence[int]) -> list[tuple[int, list[list[Any]], dict[str, str]]]:
        """Stored responses of ``ids`` as plain data: ``(user_id, answer rows, open_texts)``."""
        ...


class VectorMatrix(Protocol):
    """Profile vectors of many users as one float32 matrix."""

    def save_matrix(self, vs: VectorSet) -> int:
        """Upsert every vector of ``vs`` under ``vs.version``."""
        ...

    def load_matrix(self, version: str, ids: np.ndarray | None = None) -> VectorSet:
        """Vectors stored under ``version``, sorted by id; stale versions are left out."""
        ...


class BatchStore(Protocol):
    """What the daily batch stores: run lock and checkpoints, offers, insights, notifications."""

    def acquire(self, day: date, owner: str, now: datetime, *, stale_after_s: float) -> dict[str, Any]: ...

    def checkpoint(self, day: date, owner: str, stage: str, info: dict[str, Any], now: datetime) -> None: ...

    def finish(self, day: date, owner: str, summary: dict[str, Any], now: datetime) -> None: ...

    def run(self, day: date) -> dict[str, Any] | None: ...

    def runs(self) -> list[dict[str, Any]]: ...

    def excluded_pair_keys(self) -> np.ndarray:
        """Sorted ``frame.pair_keys`` of every pair ever matched or blocked."""
        ...

    def add_matches(self, matches: Sequence[Match] | MatchBatch) -> int: ...

    def matches_on(self, day: date) -> list[Match]:
        """The matches made on ``day``, by ``(user_a, user_b)``."""
        ...

    def matches_of(self, user_id: UserId, *, since: date | None = None) -> list[Match]: ...

    def add_insights(self, rows: list[dict[str, Any]]) -> int: ...

    def insights_on(self, day: date) -> dict[str, dict[str, Any]]: ...

    def insight(self, insight_id: str) -> dict[str, Any] | None: ...

    def insights(self, insight_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def add_notifications(self, notes: list[Notification]) -> int: ...

    def undelivered(self, id_prefix: str) -> dict[str, dict[str, Any]]:
        """Stored content of every not yet delivered notification whose id starts with ``id_prefix``."""
        ...

    def mark_delivered(self, ids: list[str], now: datetime) -> None: ...

    def delivered_since(self, user_ids: list[int], since: datetime) -> dict[int, list[datetime]]: ...


class UnitOfWork(Protocol):
    """A transaction over every repository: rolls back on exit unless ``commit()`` was called."""

    users: UserRepository
    profiles: Repository[UserId, Profile]
    preferences: Repository[UserId, Preferences]
    responses: Repository[UserId, QuestionnaireResponse]
    vectors: Repository[UserId, ProfileVector]
    vector_matrix: VectorMatrix
    matches: Repository[tuple[UserId, UserId], Match]
    likes: Repository[tuple[UserId, UserId], Like]
    blocks: Repository[tuple[UserId, UserId], Block]
    conversations: Repository[int, Conversation]
    messages: Repository[int, Message]
    subscriptions: Repository[int, Subscription]
    notifications: Repository[str, Notification]
    notification_prefs: Repository[UserId, NotificationPreferences]
    population: PopulationRepository
    batch: BatchStore

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def bulk_inserts(self, user_ids: np.ndarray) -> AbstractContextManager[None]:
        """A block of bulk inserts referencing only the users ``user_ids`` (checked once, as a set,
        where per-row key checks cost more), committed at its end."""
        ...

    def member(self, user_id: UserId) -> Member:
        """Load one user's user, profile, preferences and response together."""
        ...


# ---------------------------------------------------------------- cache
class Cache(Protocol):
    """A key-value cache of JSON-serialisable values with per-entry TTLs (never pickles)."""

    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any, *, ttl_s: float | None = None) -> None: ...

    def delete(self, key: str) -> bool: ...

    def clear(self) -> None: ...


# ---------------------------------------------------------------- notifications
class Notifier(Protocol):
    """Delivers one notification on its channels; raises on a failure worth retrying."""

    def send(self, note: Notification) -> None: ...


# ---------------------------------------------------------------- payments
@dataclass(frozen=True)
class Money:
    """An amount in integer minor units (cents) with an ISO currency code; never a float."""

    amount_minor: int
    currency: str = "usd"


@dataclass(frozen=True)
class PaymentResult:
    ok: bool
    provider_ref: str | None = None
    failure_code: str | None = None
    card_last4: str | None = None
    card_brand: str | None = None
    card_exp_month: int | None = None  # billing: expiring-card notices (additive)
    card_exp_year: int | None = None


class PaymentGateway(Protocol):
    """Charges and customer records at a payment provider (Stripe in production)."""

    def create_customer(self, user_id: UserId, email: str | None) -> str: ...

    def charge(self, customer_ref: str, amount: Money, *, idempotency_key: str) -> PaymentResult: ...


# ---------------------------------------------------------------- AI
@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Completion:
    """A model's raw text answer with the token counts the provider reported."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatClient(Protocol):
    """One OpenAI-compatible chat-completions endpoint (OpenAI and DeepSeek differ in URL and model)."""

    name: str

    def complete(
        self, messages: Sequence[ChatMessage], *, timeout_s: float, json_schema: Mapping[str, Any] | None = None
    ) -> Completion: ...


@dataclass(frozen=True)
class PairContext:
    """What the AI may see of a candidate pair: questionnaire data and vector similarities, no PII."""

    pair_id: str
    user_a: UserId
    user_b: UserId
    data_a: Mapping[str, Any]
    data_b: Mapping[str, Any]
    similarities: Mapping[str, float] = field(default_factory=dict)
    vector_score: float = 0.0


@dataclass(frozen=True)
class PairAnalysis:
    """The analysis of one pair; ``source`` says whether a model, the cache or the fallback made it."""

    pair_id: str
    score: float  # 0-100
    source: str  # models.ScoreSource value
    factors: tuple[tuple[str, float, str], ...] = ()
    summary: str = ""
    detailed_analysis: str = ""
    conversation_starters: tuple[str, ...] = ()
    challenges: tuple[str, ...] = ()


class CompatibilityAnalyzer(Protocol):
    """The AI port the matching batch calls: analyse pairs, one result per pair id, never fewer."""

    def analyze(self, pairs: Sequence[PairContext]) -> list[PairAnalysis]: ...


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; ``version`` changes when outputs would change."""

    version: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return shape ``(len(texts), dim)`` float32, rows L2-normalised (zeros for empty text)."""
        ...


# ---------------------------------------------------------------- photos (issue 6: profiles and photos)
class BlobStore(Protocol):
    """Opaque bytes by key (profile photos). Keys are ``/``-separated ``[A-Za-z0-9._-]`` segments;
    a key that could leave the store (``..``, absolute, empty segments) raises ``InvalidInputError``."""

    def put(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically (a reader sees the old bytes or the new, never half)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; raises ``errors.NotFound`` when there are none."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; returns whether it existed (deleting a missing key is not an error)."""
        ...

    def exists(self, key: str) -> bool: ...


@dataclass(frozen=True)
class FaceBox:
    """One detected face: pixel rectangle ``(x, y, width, height)`` in the image it was found in."""

    x: int
    y: int
    width: int
    height: int


class FaceDetector(Protocol):
    """Finds faces in a decoded photo; an empty list means no face (the upload is refused)."""

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in ``rgb``, shape ``(height, width, 3)`` uint8, RGB order."""
        ...


# ---------------------------------------------------------------- identity providers (social login)
class JwksProvider(Protocol):
    """An identity provider's public signing keys (JWK dicts), looked up by key id (``kid``)."""

    def key(self, kid: str) -> Mapping[str, Any] | None:
        """The JWK with this ``kid``, or ``None`` if the provider publishes no such key.

        Raises ``errors.IdentityProviderUnavailable`` when the keys cannot be fetched.
        """
        ...
