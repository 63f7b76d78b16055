"""``SqlAnalysisQueue``: the durable profile-analysis queue (``ai.queue.AnalysisQueue``) in the
application database, so queued requests survive restarts and travel with backups."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, delete, func, select, update

from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.repositories import upsert
from perfectmatch.ai.queue import QueuedAnalysis
from perfectmatch.ports import Clock

KIND = "profile_analysis"


class SqlAnalysisQueue:
    """One pending request per user (``item_id`` is the user id); claims hold a lease."""

    def __init__(self, engine: Engine, clock: Clock, *, kind: str = KIND) -> None:
        self.engine = engine
        self.clock = clock
        self.kind = kind

    def _mine(self) -> Any:
        return s.analysis_queue.c.kind == self.kind

    def enqueue(self, user_id: int, payload: Mapping[str, Any]) -> int:
        row = {"user_id": int(user_id), "kind": self.kind, "enqueued_at": self.clock.now(), "attempts": 0,
               "last_error": None, "payload": dict(payload), "claimed_until": 0.0}
        with self.engine.begin() as conn:
            conn.execute(upsert(conn, s.analysis_queue, ("user_id", "kind")), [row])
        return int(user_id)

    def claim(self, limit: int, *, lease_s: float = 300.0) -> list[QueuedAnalysis]:
        q = s.analysis_queue
        now = self.clock.now().timestamp()
        with self.engine.begin() as conn:
            stmt = (select(q.c.user_id, q.c.payload, q.c.attempts)
                    .where(self._mine(), q.c.claimed_until <= now).order_by(q.c.enqueued_at, q.c.user_id)
                    .limit(int(limit)))
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = conn.execute(stmt).all()
            if rows:
                conn.execute(update(q).where(self._mine(), q.c.user_id.in_([r[0] for r in rows]))
                             .values(claimed_until=now + lease_s))
        return [QueuedAnalysis(int(u), int(u), dict(p or {}), int(a)) for u, p, a in rows]

    def done(self, item_id: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(s.analysis_queue).where(self._mine(), s.analysis_queue.c.user_id == int(item_id)))

    def release(self, item_id: int, error: str = "") -> None:
        q = s.analysis_queue
        with self.engine.begin() as conn:
            conn.execute(update(q).where(self._mine(), q.c.user_id == int(item_id))
                         .values(claimed_until=0.0, attempts=q.c.attempts + 1, last_error=error[:300] or None))

    def pending(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(s.analysis_queue).where(self._mine()))
                       .scalar_one())
