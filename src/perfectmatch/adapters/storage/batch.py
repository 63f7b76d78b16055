"""Storage for the daily batch: the per-day run lock and checkpoints, excluded pairs, offers,
insights and notifications — all set-based (a few statements per stage, never one per row)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Connection, Text, and_, cast, insert, or_, select, update

from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.bulk import AsText, dumps, insert_rows
from perfectmatch.adapters.storage.mappings import MATCHES
from perfectmatch.adapters.storage.population import CHUNK
from perfectmatch.errors import BatchLockedError
from perfectmatch.frame import MatchBatch, pair_keys
from perfectmatch.models import Channels, Match, MatchStatus, Notification

_MATCH_COLUMNS = ("user_a", "user_b", "day", "vector_score", "ai_score", "final_score", "source", "insight_id",
                  "status")
_INSIGHT_COLUMNS = ("id", "user_a", "user_b", "day", "source", "score", "basic", "premium")
_NOTIFICATION_COLUMNS = ("id", "user_id", "type", "priority", "content", "channels", "delivered", "read",
                         "created_at", "delivered_at", "read_at")


def _plain(column: Sequence[Any]) -> list[Any]:
    """A column as a list of Python values (numpy arrays converted in one call)."""
    if isinstance(column, np.ndarray):
        return column.tolist()
    return column if isinstance(column, list) else list(column)


class SqlBatchStore:
    """``ports.BatchStore`` over SQLAlchemy Core."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # ---------------------------------------------------------------- run lock and checkpoints
    def acquire(self, day: date, owner: str, now: datetime, *, stale_after_s: float) -> dict[str, Any]:
        """Take the run lock for ``day`` and return its row (``status``, ``stages``, ``summary``).

        A finished run is returned as is (the caller reports it and does nothing). A running run
        whose heartbeat is older than ``stale_after_s`` is taken over (its checkpoints are kept);
        a fresh one raises ``BatchLockedError``. Commit right after, so the lock is visible.
        """
        r = s.batch_runs
        row = self._conn.execute(select(r).where(r.c.day == day).with_for_update()).mappings().first()
        if row is None:
            values = {"day": day, "status": "running", "owner": owner, "heartbeat_at": now, "started_at": now,
                      "stages": {}, "summary": None}
            self._conn.execute(insert(r).values(values))
            return values
        if row["status"] == "done":
            return dict(row)
        fresh = now - row["heartbeat_at"] < timedelta(seconds=stale_after_s)
        if row["status"] == "running" and fresh and row["owner"] != owner:
            raise BatchLockedError(
                f"the batch for {day} is running (owner {row['owner'][:8]}, last heartbeat "
                f"{row['heartbeat_at']:%H:%M:%S} UTC); if that run died, rerun with --takeover, which resumes "
                f"from its checkpoints"
            )
        taken = self._conn.execute(
            update(r).where(r.c.day == day, r.c.owner == row["owner"])
            .values(status="running", owner=owner, heartbeat_at=now)
        ).rowcount
        if taken != 1:  # pragma: no cover - another process won the race between select and update
            raise BatchLockedError(f"the batch for {day} was taken over by another run")
        return {**dict(row), "status": "running", "owner": owner}

    def checkpoint(self, day: date, owner: str, stage: str, info: dict[str, Any], now: datetime) -> None:
        """Record ``stage`` as done (with its counts and timing) and refresh the heartbeat."""
        r = s.batch_runs
        stages = self._conn.execute(select(r.c.stages).where(r.c.day == day, r.c.owner == owner)).scalar_one_or_none()
        if stages is None:
            raise BatchLockedError(f"lost the lock of the batch for {day}")
        self._conn.execute(
            update(r).where(r.c.day == day, r.c.owner == owner)
            .values(stages={**stages, stage: info}, heartbeat_at=now)
        )

    def finish(self, day: date, owner: str, summary: dict[str, Any], now: datetime) -> None:
        r = s.batch_runs
        self._conn.execute(
            update(r).where(r.c.day == day, r.c.owner == owner)
            .values(status="done", summary=summary, finished_at=now, heartbeat_at=now)
        )

    def run(self, day: date) -> dict[str, Any] | None:
        row = self._conn.execute(select(s.batch_runs).where(s.batch_runs.c.day == day)).mappings().first()
        return None if row is None else dict(row)

    def runs(self) -> list[dict[str, Any]]:
        r = s.batch_runs
        return [dict(x) for x in self._conn.execute(select(r).order_by(r.c.day.desc())).mappings()]

    # ---------------------------------------------------------------- pairs
    def excluded_pair_keys(self) -> np.ndarray:
        """Sorted unique ``frame.pair_keys`` of every pair ever matched or blocked (either way)."""
        m, b = s.matches, s.blocks
        rows = self._conn.execute(select(m.c.user_a, m.c.user_b)).all()
        rows += self._conn.execute(select(b.c.blocker, b.c.blocked)).all()
        if not rows:
            return np.zeros(0, dtype=np.int64)
        arr = np.asarray(rows, dtype=np.int64)
        return np.unique(pair_keys(arr[:, 0], arr[:, 1]))

    def add_matches(self, matches: Sequence[Match] | MatchBatch) -> int:
        """Bulk insert new matches, as models or as one day's columns (a pair that already exists is
        left untouched)."""
        day = AsText(self._conn.dialect.name == "sqlite")
        if isinstance(matches, MatchBatch):
            text, offered = day(matches.day), MatchStatus.OFFERED.value
            rows = [(x, y, text, v, None if s != s else s, f, src, i, offered)  # nan (not analysed) -> NULL
                    for x, y, v, s, f, src, i in zip(
                        _plain(matches.user_a), _plain(matches.user_b), _plain(matches.vector_score),
                        _plain(matches.ai_score), _plain(matches.final_score), _plain(matches.source),
                        matches.insight_id, strict=True)]
        else:
            rows = [(m.user_a, m.user_b, day(m.day), m.vector_score, m.ai_score, m.final_score, m.source.value,
                     m.insight_id, m.status.value) for m in matches]
        insert_rows(self._conn, "matches", _MATCH_COLUMNS, rows, key=("user_a", "user_b"), replace=False)
        return len(rows)

    def matches_on(self, day: date) -> list[Match]:
        """The matches made on ``day``, by ``(user_a, user_b)``."""
        m = s.matches
        rows = self._conn.execute(select(m).where(m.c.day == day).order_by(m.c.user_a, m.c.user_b)).mappings()
        return [MATCHES.from_row(r) for r in rows]

    def matches_of(self, user_id: int, *, since: date | None = None) -> list[Match]:
        """Every match of ``user_id`` (optionally only from ``since``), best score first."""
        m = s.matches
        cond = or_(m.c.user_a == user_id, m.c.user_b == user_id)
        if since is not None:
            cond = and_(cond, m.c.day >= since)
        rows = self._conn.execute(select(m).where(cond).order_by(m.c.final_score.desc(), m.c.day.desc()))
        return [MATCHES.from_row(r) for r in rows.mappings()]

    # ---------------------------------------------------------------- insights
    def add_insights(self, rows: list[dict[str, Any]]) -> int:
        """Upsert insight rows; ``basic`` and ``premium`` are dicts, or their JSON text when the caller
        serialised it already (then it is stored as given)."""
        day = AsText(self._conn.dialect.name == "sqlite")
        data = [(r["id"], r["user_a"], r["user_b"], day(r["day"]), r["source"],
                 float(r["score"]), b if isinstance(b := r["basic"], str) else dumps(b),
                 p if isinstance(p := r["premium"], str) else dumps(p)) for r in rows]
        insert_rows(self._conn, "insights", _INSIGHT_COLUMNS, data, key=("id",), replace=True)
        return len(rows)

    def insights_on(self, day: date) -> dict[str, dict[str, Any]]:
        """Scores of the insights stored for ``day`` (id, users, source, score; not the content)."""
        i = s.insights
        rows = self._conn.execute(select(i.c.id, i.c.user_a, i.c.user_b, i.c.source, i.c.score).where(i.c.day == day))
        return {r["id"]: dict(r) for r in rows.mappings()}

    def insight(self, insight_id: str) -> dict[str, Any] | None:
        return self.insights([insight_id]).get(insight_id)

    def insights(self, insight_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Full insights (with content) by id, in one query."""
        if not insight_ids:
            return {}
        rows = self._conn.execute(select(s.insights).where(s.insights.c.id.in_(insight_ids))).mappings()
        return {r["id"]: dict(r) for r in rows}

    # ---------------------------------------------------------------- notifications
    def add_notifications(self, notes: list[Notification]) -> int:
        """Insert notifications whose id is new; existing ids (a resumed run) are kept as they are."""
        when = AsText(self._conn.dialect.name == "sqlite")
        channels: dict[Channels, str] = {}  # few distinct channel choices: serialised once each
        rows = [(n.id, n.user_id, n.type.value, n.priority.value, dumps(n.content),
                 channels.get(n.channels) or channels.setdefault(n.channels, dumps(n.channels.model_dump())),
                 n.delivered, n.read, when(n.created_at), when(n.delivered_at), when(n.read_at)) for n in notes]
        insert_rows(self._conn, "notifications", _NOTIFICATION_COLUMNS, rows, key=("id",), replace=False)
        return len(rows)

    def undelivered(self, id_prefix: str) -> dict[str, dict[str, Any]]:
        """Content by id of the not yet delivered notifications under ``id_prefix``: two columns through
        the driver, JSON parsed by orjson (a ``Notification`` per row cost ~70 us at 600k rows)."""
        n = s.notifications
        rows = self._conn.execute(select(n.c.id, cast(n.c.content, Text)).where(
            n.c.id.startswith(id_prefix, autoescape=True), n.c.delivered.is_(False)))
        return {note_id: orjson.loads(content) for note_id, content in rows}

    def delivered_since(self, user_ids: list[int], since: datetime) -> dict[int, list[datetime]]:
        """Delivery times at or after ``since`` of each listed user's notifications (for hourly limits)."""
        n = s.notifications
        out: dict[int, list[datetime]] = {}
        for lo in range(0, len(user_ids), CHUNK):
            rows = self._conn.execute(select(n.c.user_id, n.c.delivered_at).where(
                n.c.user_id.in_(user_ids[lo : lo + CHUNK]), n.c.delivered.is_(True), n.c.delivered_at >= since))
            for uid, at in rows:
                out.setdefault(int(uid), []).append(at)
        return out

    def mark_delivered(self, ids: list[str], now: datetime) -> None:
        """One statement however many ids, passed as one array parameter (PostgreSQL ``= ANY``, SQLite
        ``json_each``): an ``IN`` list was compiled anew per call and an executemany bound each row
        through SQLAlchemy, ~5 us per id either way."""
        if not ids:
            return
        if self._conn.dialect.name == "sqlite":
            self._conn.exec_driver_sql(
                "UPDATE notifications SET delivered = 1, delivered_at = ? WHERE id IN (SELECT value FROM json_each(?))",
                (AsText(True)(now), orjson.dumps(ids).decode()))
        else:
            self._conn.exec_driver_sql(
                "UPDATE notifications SET delivered = true, delivered_at = %s WHERE id = ANY(%s)", (now, ids))
