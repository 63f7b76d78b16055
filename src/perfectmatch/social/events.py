"""Domain events of the social journeys and a pluggable, in-process ``EventBus``.

Events are past-tense frozen dataclasses published after the transaction that caused them has
committed. ``InProcessEventBus`` calls subscribers synchronously in subscription order; any other
transport (a queue, a broker) only needs ``publish`` and ``subscribe``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from perfectmatch.models import UserId


@dataclass(frozen=True)
class LikeReceived:
    """``liker`` liked ``likee`` (one-sided so far)."""

    liker: UserId
    likee: UserId
    at: datetime


@dataclass(frozen=True)
class MutualMatched:
    """Both users liked each other; ``conversation_id`` is now open."""

    user_a: UserId
    user_b: UserId
    conversation_id: int
    score: float
    at: datetime


@dataclass(frozen=True)
class MessageReceived:
    """``recipient`` got message ``message_id`` from ``sender``."""

    message_id: int
    conversation_id: int
    sender: UserId
    recipient: UserId
    kind: str
    preview: str
    at: datetime


@dataclass(frozen=True)
class MatchesDelivered:
    """The daily batch gave ``user_id`` ``count`` new matches."""

    user_id: UserId
    count: int
    best_score: float
    at: datetime


@dataclass(frozen=True)
class SubscriptionChanged:
    """A subscription moved to ``state`` (billing publishes this)."""

    user_id: UserId
    state: str
    plan_id: str
    at: datetime


Handler = Callable[[Any], Any]


class EventBus(Protocol):
    """Carries events from their source to every subscriber of their type."""

    def publish(self, event: object) -> None: ...

    def subscribe(self, event_type: type, handler: Handler) -> None: ...


class InProcessEventBus:
    """Synchronous dispatch by event type (subscribers of a base class see subclasses too)."""

    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = {}

    def subscribe(self, event_type: type, handler: Handler) -> None:
        self._handlers.setdefault(event_type, []).append(handler)

    def publish(self, event: object) -> None:
        """Call every handler subscribed to the event's type or a base of it; errors propagate."""
        for klass in type(event).__mro__:
            for handler in self._handlers.get(klass, ()):
                handler(event)
