"""Whole daily batch without the AI stage, on SQLite (or a given URL), at one or more sizes.

For each size: simulate a seeded population over realistic metro areas, store users, profiles,
preferences and profile vectors (timed: rows/s of the storage path), then run the batch
(load -> prefilter -> candidates -> scoring -> distribution -> store -> cache -> notify) with
vector-only scores, and report time per stage, the number of prefilter-compatible pairs, time per
million compatible pairs (to show time grows no faster than that number) and peak memory.

    python benchmarks/bench_batch.py --users 100000 1000000 [--db-dir /tmp] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from perfectmatch.adapters.clock import FakeClock
from perfectmatch.adapters.notify.basic import RecordingNotifier
from perfectmatch.bootstrap import build_app
from perfectmatch.config import Settings
from perfectmatch.matching import candidates, prefilter
from perfectmatch.pipeline import run_daily_batch
from perfectmatch.populations.metros import top_metros
from perfectmatch.populations.simulate import simulate
from perfectmatch.populations.vectors import answer_matrix_vectors

DAY = date(2026, 11, 25)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def run(n: int, url: str, seed: int, metros: int = 12) -> dict[str, object]:
    clock = FakeClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC))
    settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, seed=seed,
                        matching={"ai_stage": False})
    app = build_app(settings, clock=clock, notifier=RecordingNotifier())
    t0 = time.perf_counter()
    pop = simulate(n, seed, today=DAY, metros=top_metros(metros))
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    with app.uow as uow:
        ids = uow.population.save(pop.frame)
        uow.commit()
    t_users = time.perf_counter() - t0
    t0 = time.perf_counter()
    vs = answer_matrix_vectors(app.vector_spec, pop.answers, ids)
    t_vec_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    with app.uow as uow:
        uow.vector_matrix.save_matrix(vs)
        uow.commit()
    t_vec_store = time.perf_counter() - t0
    del pop, vs

    t0 = time.perf_counter()
    report = run_daily_batch(app, day=DAY)
    t_batch = time.perf_counter() - t0

    with app.uow as uow:  # the prefilter-compatible pair count, measured separately (not timed above)
        frame = uow.population.load(active_on=DAY)
    rules = prefilter.build_rules(frame, day=DAY)
    compatible = int(candidates.pool_sizes(frame, rules).sum() // 2)
    app.close()
    return {
        "users": n,
        "metros": metros,
        "active_users": report.counts["active_users"],
        "simulate_s": round(t_sim, 2),
        "store_users_rows_per_s": round(3 * n / t_users),  # users + profiles + preferences rows
        "vectors_build_s": round(t_vec_build, 2),
        "store_vectors_rows_per_s": round(n / t_vec_store),
        "batch_s": round(t_batch, 2),
        "stage_s": report.stage_seconds,
        "compatible_pairs": compatible,
        "batch_s_per_million_compatible_pairs": round(t_batch / max(compatible, 1) * 1e6, 3),
        "candidate_pairs": report.counts["candidate_pairs"],
        "matches": report.counts["matches"],
        "coverage": report.counts["coverage"],
        "exposure_gini": report.counts["exposure_gini"],
        "peak_rss_gib": round(peak_rss_gib(), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, nargs="+", default=[100_000])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--metros", type=int, default=12,
                    help="spread users over the N largest US metros by population (default 12, as simulate)")
    ap.add_argument("--db-dir", type=Path, default=None, help="where the SQLite files go (default: a temp dir)")
    ap.add_argument("--db-url", default=None, help="use this database instead of SQLite files (must be empty)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        for n in args.users:
            url = args.db_url or f"sqlite:///{os.path.join(tmp, f'batch_{n}.db')}"
            rows.append(run(n, url, args.seed, args.metros))
            print(f"# {n:,} users done", file=sys.stderr)
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return
    print(f"# {meta}")
    cols = ["users", "active_users", "batch_s", "compatible_pairs", "batch_s_per_million_compatible_pairs",
            "candidate_pairs", "matches", "coverage", "exposure_gini", "store_users_rows_per_s",
            "store_vectors_rows_per_s", "peak_rss_gib"]
    print(" ".join(cols))
    for r in rows:
        print(" ".join(str(r[c]) for c in cols))
        print("   stages:", r["stage_s"])


if __name__ == "__main__":
    main()
