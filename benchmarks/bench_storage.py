"""Rows per second of the batch's bulk storage paths on SQLite and PostgreSQL, side by side.

    python benchmarks/bench_storage.py --users 100000 [--repeat 3] [--db sqlite postgres] [--json]

Paths (each timed with its commit, the best of ``--repeat`` runs on a fresh table state): store and
load of the population frame (users + profiles + preferences: three rows per user), the vector
matrix (323-d float32 plus importances and completeness) first store, re-store and load, and the
batch's inserts of matches, fallback insights and notifications (one each per user, as the
batch writes about one match per active user). SQLite is a temporary file with the project's
PRAGMAs; PostgreSQL a database created for the run on ``--pg-url``'s server and dropped after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from perfectmatch.adapters.storage.engine import make_engine, upgrade
from perfectmatch.adapters.storage.uow import SqlAlchemyUnitOfWork
from perfectmatch.ai.content import compact_fallbacks, split_content
from perfectmatch.frame import MatchBatch, VectorSet
from perfectmatch.matching.vectors import DIMENSIONS, TEXT_BLOCK
from perfectmatch.models import Channels, Match, Notification, NotificationType, Priority, ScoreSource
from perfectmatch.populations.simulate import simulate
from perfectmatch.ports import PairAnalysis

DAY = date(2026, 11, 25)
DIM = 323
PG_URL = os.environ.get("PERFECTMATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TARGET = 100_000


@contextmanager
def database(kind: str, tmp: str, pg_url: str) -> Iterator[str]:
    """A fresh, migrated database of ``kind``; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{os.path.join(tmp, f'storage_{uuid.uuid4().hex[:8]}.db')}"
        return
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"pm_bench_storage_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


Inputs = tuple[VectorSet, list[Match], list[dict[str, Any]], list[dict[str, Any]], list[Notification]]


def _inputs(n: int, ids: np.ndarray, seed: int) -> Inputs:
    """Vectors, one match, one insight of each kind and one notification per user (pairs of neighbours).

    Insights: full content as dicts (about 1.5 KB of JSON, the size of an analysed pair's) and the
    batch's compact fallback form (``ai.content.compact_fallbacks``: about 130 bytes of JSON text
    made by the caller, premium empty).
    """
    rng = np.random.default_rng(seed)
    vs = VectorSet("bench-v1", ids, rng.standard_normal((n, DIM), dtype=np.float32),
                   rng.random((n, 5), dtype=np.float32), (0.8 + 0.2 * rng.random(n)).astype(np.float32))
    a, b = ids, np.roll(ids, -1)
    lo, hi = np.minimum(a, b).tolist(), np.maximum(a, b).tolist()
    score = (60 + 40 * rng.random(n)).round(3).tolist()
    matches = [Match(user_a=x, user_b=y, day=DAY, vector_score=round(s / 100, 6), final_score=s,
                     source=ScoreSource.VECTOR, insight_id=f"{DAY}:{x}:{y}")
               for x, y, s in zip(lo, hi, score, strict=True)]
    factors = tuple((f"factor {k}", 0.5 + k / 20, "A sentence or two on why this factor matters for the pair.")
                    for k in range(5))
    insights = []
    for x, y, s in zip(lo, hi, score, strict=True):
        pa = PairAnalysis(pair_id=f"{DAY}:{x}:{y}", score=s, source="fallback", factors=factors,
                          summary="You share values and a similar pace of life.",
                          detailed_analysis="Both of you value honesty and routine; " * 4,
                          conversation_starters=("Ask about the last trip.",), challenges=("Different schedules.",))
        insights.append({"id": pa.pair_id, "user_a": x, "user_b": y, "day": DAY, "source": "fallback", "score": s,
                         "basic": split_content(pa, premium=False), "premium": split_content(pa, premium=True)})
    sims = {b: rng.random(n, dtype=np.float32) for b in (*(d.value for d in DIMENSIONS), TEXT_BLOCK)}
    texts = compact_fallbacks(rng.random(n, dtype=np.float32), sims)
    compact = [{**r, "basic": t, "premium": "{}"} for r, t in zip(insights, texts, strict=True)]
    created = datetime.combine(DAY, datetime.min.time(), UTC)
    channels = Channels(push=True, in_app=True, email=True)
    notes = [Notification(id=f"batch:{DAY}:{u}", user_id=u, type=NotificationType.NEW_MATCH, priority=Priority.MEDIUM,
                          content={"newMatches": 1, "bestScore": round(s, 1)}, created_at=created, channels=channels)
             for u, s in zip(ids.tolist(), score, strict=True)]
    return vs, matches, insights, compact, notes


def _timed(uow: SqlAlchemyUnitOfWork, work: Callable[[SqlAlchemyUnitOfWork], object], clear: str | None) -> float:
    """Seconds of ``work`` plus its commit, after deleting ``clear``'s rows (not timed)."""
    with uow:
        if clear:  # an empty table, without the dead rows a DELETE leaves on PostgreSQL until a vacuum
            pg = uow.connection.dialect.name == "postgresql"
            uow.connection.exec_driver_sql(f"TRUNCATE {clear} CASCADE" if pg else f"DELETE FROM {clear}")
            uow.commit()
        t0 = time.perf_counter()
        work(uow)
        uow.commit()
        return time.perf_counter() - t0


def run(kind: str, n: int, repeat: int, seed: int, tmp: str, pg_url: str) -> list[dict[str, Any]]:
    frame = simulate(n, seed, today=DAY).frame
    with database(kind, tmp, pg_url) as url:
        engine = make_engine(url)
        upgrade(engine)
        uow = SqlAlchemyUnitOfWork(engine)
        best: dict[str, float] = {}

        def keep(path: str, seconds: float) -> None:
            best[path] = min(best.get(path, float("inf")), seconds)

        ids = np.zeros(0, np.int64)
        for _ in range(repeat):
            def save(u: SqlAlchemyUnitOfWork) -> None:
                nonlocal ids
                ids = u.population.save(frame)
            # users cascade to every table below; the following paths refill them each round
            keep("population.save", _timed(uow, save, "users"))
        vs, matches, insights, compact, notes = _inputs(n, ids, seed)
        ai = [np.nan if m.ai_score is None else m.ai_score for m in matches]
        columns = (np.array([m.user_a for m in matches]), np.array([m.user_b for m in matches]),
                   [m.vector_score for m in matches], np.array(ai), np.array([m.final_score for m in matches]),
                   np.array([m.source.value for m in matches], object), [m.insight_id for m in matches])
        for _ in range(repeat):
            keep("population.load", _timed(uow, lambda u: u.population.load(), None))
            keep("save_matrix (first store)", _timed(uow, lambda u: u.vector_matrix.save_matrix(vs), "profile_vectors"))
            keep("save_matrix (re-store)", _timed(uow, lambda u: u.vector_matrix.save_matrix(vs), None))
            keep("load_matrix", _timed(uow, lambda u: u.vector_matrix.load_matrix(vs.version), None))
            keep("add_matches", _timed(uow, lambda u: u.batch.add_matches(matches), "matches"))
            keep("add_matches (MatchBatch columns, as the batch)",
                 _timed(uow, lambda u: u.batch.add_matches(MatchBatch(DAY, *columns)), "matches"))
            keep("add_insights (1.5 KB dicts)", _timed(uow, lambda u: u.batch.add_insights(insights), "insights"))
            keep("add_insights (compact text)", _timed(uow, lambda u: u.batch.add_insights(compact), "insights"))
            keep("add_notifications", _timed(uow, lambda u: u.batch.add_notifications(notes), "notifications"))
        with uow:  # the stored vectors round-trip exactly
            got = uow.vector_matrix.load_matrix(vs.version)
        assert np.array_equal(got.vecs, vs.vecs) and np.array_equal(got.importance, vs.importance)
        engine.dispose()
    rows_per_item = {"population.save": 3, "population.load": 3}
    return [{"db": kind, "path": p, "users": n, "rows": n * rows_per_item.get(p, 1), "seconds": round(t, 3),
             "rows_per_s": round(n * rows_per_item.get(p, 1) / t)} for p, t in best.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3, help="runs per path; the best is reported (default 3)")
    ap.add_argument("--db", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    ap.add_argument("--pg-url", default=PG_URL, help="a PostgreSQL server where a scratch database may be created")
    ap.add_argument("--db-dir", type=Path, default=None, help="where the SQLite file goes (default: a temp dir)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        for kind in args.db:
            rows += run(kind, args.users, args.repeat, args.seed, tmp, args.pg_url)
            print(f"# {kind} done", file=sys.stderr)
    meta = {"python": platform.python_version(), "numpy": np.__version__, "cores": os.cpu_count(),
            "users": args.users, "repeat": args.repeat, "target_rows_per_s": TARGET}
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return
    print(f"# {meta}")
    by = {(r["path"], r["db"]): r for r in rows}
    paths = list(dict.fromkeys(r["path"] for r in rows))
    print("path | " + " | ".join(f"{d} rows/s" for d in args.db))
    for p in paths:
        print(f"{p} | " + " | ".join(f"{by[(p, d)]['rows_per_s']:,}" for d in args.db))


if __name__ == "__main__":
    main()
