"""The profile-completion queue: analysis requests made while the AI is down, drained later.

``AnalysisQueue`` is the port (one pending request per user, claim with a lease so a crashed
drainer's items come back). ``InMemoryAnalysisQueue`` is for tests; the durable implementation is
``perfectmatch.adapters.storage.queue.SqlAnalysisQueue`` in the application database.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from perfectmatch.ai.analysis import ProfileAnalysis, ResilientAnalyzer
from perfectmatch.ports import Clock


@dataclass(frozen=True)
class QueuedAnalysis:
    """One queued request: the user and the questionnaire data to analyse."""

    item_id: int
    user_id: int
    payload: dict[str, Any]
    attempts: int = 0


class AnalysisQueue(Protocol):
    """Durable queue of profile-analysis requests."""

    def enqueue(self, user_id: int, payload: Mapping[str, Any]) -> int:
        """Queue a request; a pending request of the same user is replaced (latest data wins)."""
        ...

    def claim(self, limit: int, *, lease_s: float = 300.0) -> list[QueuedAnalysis]:
        """Take up to ``limit`` requests not claimed by anyone (or whose lease expired)."""
        ...

    def done(self, item_id: int) -> None:
        """Remove a finished request."""
        ...

    def release(self, item_id: int, error: str = "") -> None:
        """Give a claimed request back (AI still unavailable); its attempt count goes up."""
        ...

    def pending(self) -> int:
        """How many requests wait (claimed or not)."""
        ...


@dataclass
class _Row:
    user_id: int
    payload: dict[str, Any]
    attempts: int = 0
    claimed_until: float = 0.0
    error: str = ""


@dataclass
class InMemoryAnalysisQueue:
    """``AnalysisQueue`` in a dict (not durable): for tests and examples."""

    clock: Clock
    _rows: dict[int, _Row] = field(default_factory=dict)
    _next: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def enqueue(self, user_id: int, payload: Mapping[str, Any]) -> int:
        with self._lock:
            for item_id, row in list(self._rows.items()):
                if row.user_id == user_id:
                    del self._rows[item_id]
            item_id = self._next
            self._next += 1
            self._rows[item_id] = _Row(user_id, json.loads(json.dumps(dict(payload))))
            return item_id

    def claim(self, limit: int, *, lease_s: float = 300.0) -> list[QueuedAnalysis]:
        now = self.clock.now().timestamp()
        out = []
        with self._lock:
            for item_id in sorted(self._rows):
                row = self._rows[item_id]
                if len(out) >= limit:
                    break
                if row.claimed_until <= now:
                    row.claimed_until = now + lease_s
                    out.append(QueuedAnalysis(item_id, row.user_id, row.payload, row.attempts))
        return out

    def done(self, item_id: int) -> None:
        with self._lock:
            self._rows.pop(item_id, None)

    def release(self, item_id: int, error: str = "") -> None:
        with self._lock:
            row = self._rows.get(item_id)
            if row is not None:
                row.claimed_until = 0.0
                row.attempts += 1
                row.error = error

    def pending(self) -> int:
        with self._lock:
            return len(self._rows)


@dataclass(frozen=True)
class DrainReport:
    """What one drain did: analysed by the AI, given back (AI still down), still waiting."""

    analysed: int
    released: int
    remaining: int


def analyze_profile_or_enqueue(
    analyzer: ResilientAnalyzer, queue: AnalysisQueue, user_id: int, data: Mapping[str, Any]
) -> ProfileAnalysis:
    """Analyse a just-completed profile; if only the fallback could answer, queue the request for later."""
    result = analyzer.analyze_profile(data)
    if result.source == "fallback":
        queue.enqueue(user_id, data)
    return result


def drain_queue(
    queue: AnalysisQueue,
    analyzer: ResilientAnalyzer,
    *,
    store: Callable[[int, ProfileAnalysis], None] | None = None,
    limit: int = 100,
    lease_s: float = 300.0,
) -> DrainReport:
    """Analyse up to ``limit`` queued requests; stop at the first one the AI still cannot answer.

    ``store(user_id, analysis)`` persists each result before its request is removed, so a crash in
    between re-runs the request instead of losing it.
    """
    analysed = released = 0
    claimed = queue.claim(limit, lease_s=lease_s)
    for i, item in enumerate(claimed):
        result = analyzer.analyze_profile(item.payload)
        if result.source == "fallback":
            for rest in claimed[i:]:
                queue.release(rest.item_id, "AI unavailable")
                released += 1
            break
        if store is not None:
            store(item.user_id, result)
        queue.done(item.item_id)
        analysed += 1
    return DrainReport(analysed=analysed, released=released, remaining=queue.pending())
