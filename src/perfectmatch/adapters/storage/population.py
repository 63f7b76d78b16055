"""Set-based storage paths for batches: whole populations and vector matrices in a few statements."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection, String, select, type_coerce

from perfectmatch.adapters.storage import pgcopy
from perfectmatch.adapters.storage import schema as s
from perfectmatch.adapters.storage.mappings import genders_from_str, genders_to_str, response_row
from perfectmatch.frame import EPOCH, GENDERS, GOALS, STATUSES, TIERS, PopulationFrame, VectorSet, seeks_mask
from perfectmatch.models import QuestionnaireResponse, UserStatus

_GENDER_CODE = {g.value: i for i, g in enumerate(GENDERS)}
_GOAL_CODE = {g.value: i for i, g in enumerate(GOALS)}
_TIER_CODE = {t.value: i for i, t in enumerate(TIERS)}
_STATUS_CODE = {t.value: i for i, t in enumerate(STATUSES)}
_SEEKS_TEXT = {m: genders_to_str(frozenset(g for k, g in enumerate(GENDERS) if m >> k & 1)) for m in range(8)}
CHUNK = 20_000


_RESPONSE_COLUMNS = ("user_id", "bank_version", "answers", "open_texts", "open_texts_missing_reason",
                     "dimension_scores", "completed_at")


def _response_tuple(resp: QuestionnaireResponse, user_id: int, sqlite_: bool) -> tuple[object, ...]:
    """One responses row with JSON pre-serialised (the executemany/COPY fast path)."""
    row = response_row(resp)
    done = row["completed_at"]
    if done is not None and sqlite_:
        done = done.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    dumps = json.dumps
    return (user_id, row["bank_version"], dumps(row["answers"], separators=(",", ":")),
            dumps(row["open_texts"], separators=(",", ":")), row["open_texts_missing_reason"],
            dumps(row["dimension_scores"], separators=(",", ":")), done)


def _ts_text(seconds: np.ndarray, sqlite_: bool) -> list[str]:
    """Epoch seconds as the text each database takes for a UTC timestamp (made by numpy: a driver's
    datetime conversion costs more per row than the rest of the row)."""
    stamps = np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")
    if sqlite_:  # the format SQLAlchemy's DateTime keeps on SQLite
        return [t.replace("T", " ") for t in np.datetime_as_string(stamps.astype("datetime64[us]")).tolist()]
    return np.datetime_as_string(stamps, timezone="UTC").tolist()


def bulk_insert(conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    """Set-based writes without per-row Core overhead: COPY on PostgreSQL (user keys checked in one
    statement, ``fkcheck.copy_checked``), executemany on SQLite."""
    if conn.dialect.name == "postgresql":
        from perfectmatch.adapters.storage.fkcheck import copy_checked
        from perfectmatch.adapters.storage.readonly import check_writable

        check_writable(conn, f"COPY on {table}")  # a raw COPY passes no statement event (the database refuses too)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

        def copy() -> None:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as cp:
                for row in rows:
                    cp.write_row(row)

        copy_checked(conn, table, columns, lambda c: map(itemgetter(columns.index(c)), rows), copy)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]


class SqlPopulationRepository:
    """``ports.PopulationRepository`` over SQLAlchemy Core (executemany in chunks, no per-row queries)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _reserve_ids(self, n: int) -> np.ndarray:
        """Allocate ``n`` new user ids inside this transaction (a sequence on PostgreSQL; on SQLite
        the write lock taken first makes ``max(id)`` safe)."""
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if self._conn.dialect.name == "postgresql":
            rows = self._conn.exec_driver_sql(
                "SELECT nextval(pg_get_serial_sequence('users', 'id')) FROM generate_series(1, %(n)s)", {"n": n}
            ).all()
            return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=n))
        self._conn.exec_driver_sql("UPDATE users SET id = id WHERE 0")  # take the write lock now
        top = self._conn.exec_driver_sql("SELECT COALESCE(MAX(id), 0) FROM users").scalar_one()
        return np.arange(int(top) + 1, int(top) + 1 + n, dtype=np.int64)

    def save(self, frame: PopulationFrame, responses: Sequence[QuestionnaireResponse] = ()) -> np.ndarray:
        n = len(frame)
        if responses and len(responses) != n:
            raise ValueError(f"{len(responses)} responses for {n} users")
        ids = self._reserve_ids(n)
        sqlite_ = self._conn.dialect.name == "sqlite"
        created, active = _ts_text(frame.created_at, sqlite_), _ts_text(frame.last_active_at, sqlite_)
        births = np.datetime_as_string(frame.birth_day.astype(np.int64).astype("datetime64[D]")).tolist()
        status = [STATUSES[c].value for c in frame.status]
        tier = [TIERS[c].value for c in frame.tier]
        gender = [GENDERS[c].value for c in frame.gender]
        goal = [GOALS[c].value for c in frame.goal]
        uid = ids.tolist()
        lat, lon, radius = frame.lat.tolist(), frame.lon.tolist(), frame.radius_km.tolist()
        amin, amax = frame.age_min.tolist(), frame.age_max.tolist()
        for lo in range(0, n, CHUNK):
            hi = min(lo + CHUNK, n)
            bulk_insert(self._conn,
                "users", ("id", "email", "status", "tier", "created_at", "last_active_at", "source", "source_id"),
                [(uid[i], None, status[i], tier[i], created[i], active[i], frame.source[i], frame.source_id[i])
                 for i in range(lo, hi)],
            )
            bulk_insert(self._conn,
                "profiles", ("user_id", "display_name", "birth_date", "gender", "lat", "lon", "place", "photos", "bio"),
                [(uid[i], frame.display_name[i], births[i], gender[i], lat[i], lon[i], frame.place[i], "[]", "")
                 for i in range(lo, hi)],
            )
            bulk_insert(self._conn,
                "preferences", ("user_id", "genders_sought", "age_min", "age_max", "radius_km", "goal", "dealbreakers"),
                [(uid[i], _SEEKS_TEXT[int(frame.seeks[i])], amin[i], amax[i], radius[i], goal[i], "[]")
                 for i in range(lo, hi)],
            )
            if responses:
                bulk_insert(self._conn, "responses", _RESPONSE_COLUMNS,
                                  [_response_tuple(responses[i], uid[i], sqlite_) for i in range(lo, hi)])
        return ids

    def load(self, *, active_on: date | None = None, window_days: int = 30) -> PopulationFrame:
        u, p, q = s.users, s.profiles, s.preferences
        # SQLite keeps dates and times as ISO text: read as text, numpy parses each column at once (a
        # date or datetime object per value through SQLAlchemy cost most of a million-user load)
        as_text = self._conn.dialect.name == "sqlite"

        def temporal(column: Any) -> Any:
            return type_coerce(column, String) if as_text else column

        stmt = (
            select(
                u.c.id, p.c.gender, q.c.genders_sought, temporal(p.c.birth_date), p.c.lat, p.c.lon, q.c.radius_km,
                q.c.age_min, q.c.age_max, q.c.goal, u.c.tier, u.c.status, temporal(u.c.created_at),
                temporal(u.c.last_active_at), p.c.display_name, p.c.place, u.c.source, u.c.source_id,
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
            created_at=_epoch_seconds(cols[12], as_text),
            last_active_at=_epoch_seconds(cols[13], as_text),
            display_name=np.array(cols[14], dtype=object),
            place=np.array(cols[15], dtype=object),
            source=np.array(cols[16], dtype=object),
            source_id=np.array(cols[17], dtype=object),
        )


    def raw_responses(self, ids: Sequence[int]) -> list[tuple[int, list[list[Any]], dict[str, str]]]:
        """``(user_id, [[question_id, value, importance, seconds], ...], open_texts)`` for ``ids``,
        as stored (no model validation: the batch's fast path for encoding many users)."""
        r = s.responses
        out: list[tuple[int, list[list[Any]], dict[str, str]]] = []
        for lo in range(0, len(ids), CHUNK):
            chunk = [int(i) for i in ids[lo : lo + CHUNK]]
            stmt = select(r.c.user_id, r.c.answers, r.c.open_texts).where(r.c.user_id.in_(chunk))
            out.extend((int(u), a, t) for u, a, t in self._conn.execute(stmt))
        return out


def _epoch_seconds(values: Sequence[Any], as_text: bool) -> np.ndarray:
    """Whole UTC seconds since the epoch of aware datetimes, or of SQLite's UTC text for them."""
    if as_text:
        return np.array(values, dtype="datetime64[us]").astype("datetime64[s]").astype(np.int64)
    return np.array([int(t.timestamp()) for t in values], dtype=np.int64)


class SqlVectorMatrix:
    """Profile vectors as one float32 matrix: save and load many users at once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def save_matrix(self, vs: VectorSet) -> int:
        """Upsert every vector of ``vs`` (with importance and completeness) under ``vs.version``.

        SQLite: one raw executemany per chunk of pre-built tuples (no per-row Core processing).
        PostgreSQL: binary COPY of rows built by numpy in one piece (:meth:`_copy_vectors`).
        """
        vecs = np.ascontiguousarray(vs.vecs, dtype="<f4")
        imp = np.ascontiguousarray(vs.importance, dtype="<f4")
        if not len(vs.ids):
            return 0
        if self._conn.dialect.name == "postgresql":
            self._copy_vectors(vs.version, vs.ids, vecs, imp, vs.completeness)
            return len(vs.ids)
        d = int(vecs.shape[1])
        sql = ("INSERT INTO profile_vectors (user_id, version, dim, data, importance, completeness) "
               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET "
               + ", ".join(f"{c} = excluded.{c}" for c in _VECTOR_COLUMNS[1:]))
        ids, comp = vs.ids.tolist(), vs.completeness.tolist()
        for lo in range(0, len(ids), CHUNK):
            rows = [(ids[i], vs.version, d, vecs[i].tobytes(), imp[i].tobytes(), comp[i])
                    for i in range(lo, min(lo + CHUNK, len(ids)))]
            self._conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]
        return len(ids)

    def _copy_vectors(self, version: str, ids: np.ndarray, vecs: np.ndarray, imp: np.ndarray,
                      completeness: np.ndarray) -> None:
        """PostgreSQL: binary COPY straight into the table (vector bytes as they are, every row built
        by numpy; user keys checked in one statement, ``fkcheck.copy_checked``), after deleting the
        vectors ``ids`` already have (a re-store: cheaper than an upsert from a scratch table)."""
        from perfectmatch.adapters.storage.fkcheck import copy_checked
        from perfectmatch.adapters.storage.readonly import check_writable

        check_writable(self._conn, "COPY on profile_vectors")
        # one index probe for the id range first (new users come after existing ones); only when the
        # range holds vectors, the delete
        if self._conn.exec_driver_sql(
                "SELECT EXISTS (SELECT 1 FROM profile_vectors WHERE user_id BETWEEN %(lo)s AND %(hi)s)",
                {"lo": int(ids.min()), "hi": int(ids.max())}).scalar():
            self._conn.exec_driver_sql("DELETE FROM profile_vectors WHERE user_id = ANY(%(ids)s::bigint[])",
                                       {"ids": "{" + ",".join(map(str, ids.tolist())) + "}"})
        tag, d = version.encode(), int(vecs.shape[1])
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

        def copy() -> None:
            with cursor.copy(f"COPY profile_vectors ({', '.join(_VECTOR_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as cp:
                cp.write(pgcopy.HEADER)
                for lo in range(0, len(ids), CHUNK):
                    hi = min(lo + CHUNK, len(ids))
                    cp.write(pgcopy.encode([
                        (">i8", ids[lo:hi]), (f"S{len(tag)}", tag), (">i4", d), (("<f4", (d,)), vecs[lo:hi]),
                        (("<f4", (5,)), imp[lo:hi]), (">f8", completeness[lo:hi]),
                    ], hi - lo).data)
                cp.write(pgcopy.TRAILER)

        copy_checked(self._conn, "profile_vectors", _VECTOR_COLUMNS, lambda _: ids.tolist(), copy)

    def load_matrix(self, version: str, ids: np.ndarray | None = None) -> VectorSet:
        """Vectors stored under ``version`` (all, or only for ``ids``), sorted by user id.

        Vectors of another version are stale and are not returned. Rows stored before importance
        and completeness existed read as neutral (0.5 each) and complete (1.0).
        """
        wanted = None if ids is None else np.unique(np.asarray(ids, dtype=np.int64))
        if self._conn.dialect.name != "postgresql":
            return self._select_vectors(version, wanted)
        found = self._copy_out_vectors(version)
        if wanted is not None:
            keep = np.isin(found.ids, wanted)
            found = VectorSet(version, found.ids[keep], found.vecs[keep], found.importance[keep],
                              found.completeness[keep])
        return found

    def _select_vectors(self, version: str, wanted: np.ndarray | None) -> VectorSet:
        """SQLite: a raw driver cursor (a Core select's per-row processing would dominate), read in
        chunks straight into the result arrays, keeping only ``wanted`` ids (sorted) when given: no
        full-size copy of the rows' bytes beside the result (3.6 GB less transient memory at a
        million 323-d vectors than one ``fetchall``)."""
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        where = "FROM profile_vectors WHERE version = ?"
        capacity = int(cursor.execute(f"SELECT COUNT(*) {where}", (version,)).fetchone()[0])
        if wanted is not None:
            capacity = min(capacity, wanted.size)
        cursor.execute(f"SELECT user_id, data, importance, completeness {where} ORDER BY user_id", (version,))
        out: VectorSet | None = None
        m, d = 0, 0
        while rows := cursor.fetchmany(CHUNK):
            got = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            d = len(rows[0][1]) // 4
            take = range(len(rows))
            if wanted is not None:
                take = np.flatnonzero(np.isin(got, wanted)).tolist()
                if not take:
                    continue
            if out is None or m + len(take) > out.ids.size:  # the first chunk, or rows added since the count
                out = _grown(out, m, version, d, max(capacity, 2 * m, m + len(take)))
            end = m + len(take)
            out.ids[m:end] = got[take]
            out.vecs[m:end] = np.frombuffer(b"".join(rows[i][1] for i in take), dtype="<f4").reshape(len(take), d)
            out.importance[m:end] = np.frombuffer(b"".join(rows[i][2] or _NEUTRAL_IMPORTANCE for i in take),
                                                  dtype="<f4").reshape(len(take), 5)
            out.completeness[m:end] = [1.0 if rows[i][3] is None else rows[i][3] for i in take]
            m = end
        if out is None:
            return _no_vectors(version, d)
        if m == out.ids.size:
            return out
        return VectorSet(version, out.ids[:m].copy(), out.vecs[:m].copy(), out.importance[:m].copy(),
                         out.completeness[:m].copy())

    def _copy_out_vectors(self, version: str) -> VectorSet:
        """PostgreSQL: one binary ``COPY ... TO STDOUT`` parsed by numpy as fixed-width rows, sorted by id."""
        from psycopg import sql

        query = sql.SQL(
            "COPY (SELECT user_id, data, COALESCE(importance, {neutral}), COALESCE(completeness, 1.0) "
            "FROM profile_vectors WHERE version = {version}) TO STDOUT (FORMAT BINARY)"
        ).format(neutral=sql.Literal(_NEUTRAL_IMPORTANCE), version=sql.Literal(version))
        out = bytearray()
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(query) as copy:
            for block in copy:
                out += block
        lengths = pgcopy.first_lengths(out, 2)
        if not lengths:
            return _no_vectors(version)
        d = lengths[1] // 4
        rows = pgcopy.decode(out, [np.dtype(">i8"), np.dtype(("<f4", (d,))), np.dtype(("<f4", (5,))),
                                   np.dtype(">f8")])
        order = np.argsort(rows["f0"], kind="stable")  # sorted here: a server-side sort spills to disk
        return VectorSet(version, rows["f0"][order].astype(np.int64), rows["f1"][order].astype(np.float32),
                         rows["f2"][order].astype(np.float32), rows["f3"][order].astype(np.float32))


_VECTOR_COLUMNS = ("user_id", "version", "dim", "data", "importance", "completeness")
_NEUTRAL_IMPORTANCE = np.full(5, 0.5, dtype="<f4").tobytes()


def _grown(old: VectorSet | None, m: int, version: str, d: int, capacity: int) -> VectorSet:
    """Empty result arrays for ``capacity`` vectors of ``d`` dimensions, holding ``old``'s first ``m``."""
    new = VectorSet(version, np.empty(capacity, np.int64), np.empty((capacity, d), np.float32),
                    np.empty((capacity, 5), np.float32), np.empty(capacity, np.float32))
    if old is not None:
        new.ids[:m], new.vecs[:m], new.importance[:m], new.completeness[:m] = (
            old.ids[:m], old.vecs[:m], old.importance[:m], old.completeness[:m])
    return new


def _no_vectors(version: str, d: int = 0) -> VectorSet:
    return VectorSet(version, np.zeros(0, np.int64), np.zeros((0, d), np.float32), np.zeros((0, 5), np.float32),
                     np.zeros(0, np.float32))
