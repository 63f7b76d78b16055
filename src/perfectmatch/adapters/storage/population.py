"""Set-based storage paths for batches: whole populations and vector matrices in a few statements."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np
from sqlalchemy import Connection, insert, select

from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.mappings import genders_from_str, genders_to_str, response_row
from perfectmatch.frame import EPOCH, GENDERS, GOALS, STATUSES, TIERS, PopulationFrame, seeks_mask
from perfectmatch.models import QuestionnaireResponse, UserStatus

_GENDER_CODE = {g.value: i for i, g in enumerate(GENDERS)}
_GOAL_CODE = {g.value: i for i, g in enumerate(GOALS)}
_TIER_CODE = {t.value: i for i, t in enumerate(TIERS)}
_STATUS_CODE = {t.value: i for i, t in enumerate(STATUSES)}
_SEEKS_TEXT = {m: genders_to_str(frozenset(g for k, g in enumerate(GENDERS) if m >> k & 1)) for m in range(8)}
CHUNK = 20_000


def _ts(seconds: np.ndarray) -> list[datetime]:
    return [datetime.fromtimestamp(int(t), UTC) for t in seconds]


class SqlPopulationRepository:
    """``ports.PopulationRepository`` over SQLAlchemy Core (executemany in chunks, no per-row queries)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def save(self, frame: PopulationFrame, responses: Sequence[QuestionnaireResponse] = ()) -> np.ndarray:
        n = len(frame)
        if responses and len(responses) != n:
            raise ValueError(f"{len(responses)} responses for {n} users")
        ids = np.zeros(n, dtype=np.int64)
        created = _ts(frame.created_at)
        active = _ts(frame.last_active_at)
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            user_rows = [
                {
                    "email": None,
                    "status": STATUSES[frame.status[i]].value,
                    "tier": TIERS[frame.tier[i]].value,
                    "created_at": created[i],
                    "last_active_at": active[i],
                    "source": frame.source[i],
                    "source_id": frame.source_id[i],
                }
                for i in range(lo, hi)
            ]
            result = self._conn.execute(
                insert(s.users).returning(s.users.c.id, sort_by_parameter_order=True), user_rows
            )
            ids[lo:hi] = [r[0] for r in result]
            birth = frame.birth_day[lo:hi].astype("datetime64[D]").tolist()
            self._conn.execute(
                insert(s.profiles),
                [
                    {
                        "user_id": int(ids[i]),
                        "display_name": frame.display_name[i],
                        "birth_date": birth[i - lo],
                        "gender": GENDERS[frame.gender[i]].value,
                        "lat": float(frame.lat[i]),
                        "lon": float(frame.lon[i]),
                        "place": frame.place[i],
                        "photos": [],
                        "bio": "",
                    }
                    for i in range(lo, hi)
                ],
            )
            self._conn.execute(
                insert(s.preferences),
                [
                    {
                        "user_id": int(ids[i]),
                        "genders_sought": _SEEKS_TEXT[int(frame.seeks[i])],
                        "age_min": int(frame.age_min[i]),
                        "age_max": int(frame.age_max[i]),
                        "radius_km": float(frame.radius_km[i]),
                        "goal": GOALS[frame.goal[i]].value,
                        "dealbreakers": [],
                    }
                    for i in range(lo, hi)
                ],
            )
            if responses:
                rows = []
                for i in range(lo, hi):
                    row = response_row(responses[i])
                    row["user_id"] = int(ids[i])
                    rows.append(row)
                self._conn.execute(insert(s.responses), rows)
        return ids

    def load(self, *, active_on: date | None = None, window_days: int = 30) -> PopulationFrame:
        u, p, q = s.users, s.profiles, s.preferences
        stmt = (
            select(
                u.c.id, p.c.gender, q.c.genders_sought, p.c.birth_date, p.c.lat, p.c.lon, q.c.radius_km,
                q.c.age_min, q.c.age_max, q.c.goal, u.c.tier, u.c.status, u.c.created_at, u.c.last_active_at,
                p.c.display_name, p.c.place, u.c.source, u.c.source_id,
            )
            .join(p, p.c.user_id == u.c.id)
            .join(q, q.c.user_id == u.c.id)
            .order_by(u.c.id)
        )
        if active_on is not None:
            cutoff = datetime.combine(active_on - timedelta(days=window_days), datetime.min.time(), UTC)
            stmt = stmt.where(u.c.status == UserStatus.ACTIVE.value, u.c.last_active_at >= cutoff)
        rows = self._conn.execute(stmt).all()
        if not rows:
            return PopulationFrame.empty()
        cols = list(zip(*rows, strict=True))
        seeks_code = {text: seeks_mask(sorted(genders_from_str(text))) for text in set(cols[2])}
        return PopulationFrame(
            ids=np.array(cols[0], dtype=np.int64),
            gender=np.array([_GENDER_CODE[g] for g in cols[1]], dtype=np.int8),
            seeks=np.array([seeks_code[t] for t in cols[2]], dtype=np.uint8),
            birth_day=(np.array(cols[3], dtype="datetime64[D]") - np.datetime64(EPOCH, "D")).astype(np.int32),
            lat=np.array(cols[4], dtype=np.float64),
            lon=np.array(cols[5], dtype=np.float64),
            radius_km=np.array(cols[6], dtype=np.float64),
            age_min=np.array(cols[7], dtype=np.int16),
            age_max=np.array(cols[8], dtype=np.int16),
            goal=np.array([_GOAL_CODE[g] for g in cols[9]], dtype=np.int8),
            tier=np.array([_TIER_CODE[t] for t in cols[10]], dtype=np.int8),
            status=np.array([_STATUS_CODE[t] for t in cols[11]], dtype=np.int8),
            created_at=np.array([int(t.timestamp()) for t in cols[12]], dtype=np.int64),
            last_active_at=np.array([int(t.timestamp()) for t in cols[13]], dtype=np.int64),
            display_name=np.array(cols[14], dtype=object),
            place=np.array(cols[15], dtype=object),
            source=np.array(cols[16], dtype=object),
            source_id=np.array(cols[17], dtype=object),
        )


class SqlVectorMatrix:
    """Profile vectors as one float32 matrix: save and load many users at once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def save_matrix(self, ids: np.ndarray, vecs: np.ndarray, version: str) -> int:
        """Upsert ``vecs`` (shape ``(n, d)``) for users ``ids`` (shape ``(n,)``) under ``version``."""
        from perfectmatch.adapters.storage.repositories import upsert

        vecs = np.ascontiguousarray(vecs, dtype="<f4")
        d = int(vecs.shape[1]) if vecs.ndim == 2 else 0
        stmt = upsert(self._conn, s.profile_vectors, ("user_id",))
        for lo in range(0, len(ids), CHUNK):
            self._conn.execute(
                stmt,
                [
                    {"user_id": int(ids[i]), "version": version, "dim": d, "data": vecs[i].tobytes()}
                    for i in range(lo, min(lo + CHUNK, len(ids)))
                ],
            )
        return len(ids)

    def load_matrix(self, version: str, ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Vectors stored under ``version`` (all, or only for ``ids``), as ``(ids, vecs)`` sorted by id.

        Vectors of another version are stale and are not returned.
        """
        v = s.profile_vectors
        stmt = select(v.c.user_id, v.c.data).where(v.c.version == version).order_by(v.c.user_id)
        rows = self._conn.execute(stmt).all()
        if ids is not None:
            wanted = set(np.asarray(ids).tolist())
            rows = [r for r in rows if r[0] in wanted]
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        out_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), -1)
        return out_ids, vecs.astype(np.float32)
