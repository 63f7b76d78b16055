"""Whole daily batch without the AI stage, on SQLite (or a given URL), at one or more sizes.

For each size: simulate a seeded population over realistic metro areas, store users, profiles,
preferences and profile vectors (timed: rows/s of the storage path), then run the batch
(load -> prefilter -> candidates -> scoring -> distribution -> store -> cache -> notify) with
vector-only scores **in a fresh subprocess**, so its peak memory is the batch's own (the
simulation's is reported separately), and report time per stage, the number of
prefilter-compatible pairs, time per million compatible pairs (to show time grows no faster than
that number) and peak memory.

``--keep-db DIR`` keeps each stored population (``DIR/population_<n>_<seed>_<metros>.db``) and
reuses it when present: every run copies it to a scratch file first, so a 1M population is
simulated once for any number of measurements. ``--compare-src OLD/src ...`` also runs the batch
of other source trees (e.g. ``git archive`` of older commits) on copies of the same population,
interleaved with the current one, for side-by-side timings.

    python benchmarks/bench_batch.py --users 100000 1000000 [--db-dir /tmp] [--keep-db DIR]
                                     [--repeat N] [--compare-src OLD/src ...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

DAY = date(2026, 11, 25)
NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def peak_rss_gib() -> float:
    """This process's peak resident memory. Linux: ``VmHWM``, which starts afresh at ``exec``;
    ``ru_maxrss`` would carry over the parent's peak at fork time (the population setup's, for the
    batch subprocess: its 1M figures before this fix were the parent's 6.9 GiB or more)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024**2
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _app(url: str, seed: int) -> Any:
    from perfectmatch.adapters.clock import FakeClock
    from perfectmatch.adapters.notify.basic import RecordingNotifier
    from perfectmatch.bootstrap import build_app
    from perfectmatch.config import Settings

    settings = Settings(_env_file=None, db_url=url, cache={"backend": "none"}, seed=seed,
                        matching={"ai_stage": False})
    return build_app(settings, clock=FakeClock(NOW), notifier=RecordingNotifier())


def populate(n: int, url: str, seed: int, metros: int) -> dict[str, float]:
    """Simulate and store ``n`` users with their profile vectors; timings of each step."""
    from perfectmatch.populations.metros import top_metros
    from perfectmatch.populations.simulate import simulate
    from perfectmatch.populations.vectors import answer_matrix_vectors

    app = _app(url, seed)
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
    app.close()
    return {"simulate_s": round(t_sim, 2), "store_users_rows_per_s": round(3 * n / t_users),
            "vectors_build_s": round(t_vec_build, 2), "store_vectors_rows_per_s": round(n / t_vec_store)}


def batch_only(url: str, seed: int) -> None:
    """The batch alone (run as ``--batch-only URL`` in a fresh process): prints its report and peak."""
    from perfectmatch.pipeline import run_daily_batch

    app = _app(url, seed)
    high_water: dict[str, int] = {}  # the process's peak RSS after each stage: where the peak was reached

    def after_stage(name: str) -> None:
        high_water[name] = round(peak_rss_gib() * 1024)

    t0 = time.perf_counter()
    report = run_daily_batch(app, day=DAY, after_stage=after_stage)
    t_batch = time.perf_counter() - t0
    app.close()
    keys = ("active_users", "candidate_pairs", "matches", "coverage", "exposure_gini", "notifications")
    print(json.dumps({"batch_s": round(t_batch, 2), "stage_s": report.stage_seconds,
                      **{k: report.counts[k] for k in keys}, "peak_rss_gib": round(peak_rss_gib(), 2),
                      "peak_rss_mib": round(peak_rss_gib() * 1024), "peak_rss_mib_after_stage": high_water}))


def run_batch(url: str, seed: int, src: Path | None = None) -> dict[str, object]:
    """``batch_only`` in a subprocess (importing ``src`` instead of the installed package if given)."""
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    out = subprocess.run([sys.executable, __file__, "--batch-only", url, "--seed", str(seed)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compatible_pairs(url: str, seed: int) -> int:
    """Prefilter-compatible pairs of the stored population (measured apart from the batch)."""
    from perfectmatch.matching import candidates, prefilter

    app = _app(url, seed)
    with app.uow as uow:
        frame = uow.population.load(active_on=DAY)
    app.close()
    return int(candidates.pool_sizes(frame, prefilter.build_rules(frame, day=DAY)).sum() // 2)


def run(n: int, work: Path, args: argparse.Namespace) -> list[dict[str, object]]:
    """Rows for size ``n``: one per batch run (``--repeat`` of each source tree, interleaved)."""
    keep = args.keep_db
    pristine = (keep or work) / f"population_{n}_{args.seed}_{args.metros}.db"
    setup: dict[str, object] = {"reused_population": pristine.exists() and keep is not None}
    if not setup["reused_population"]:
        pristine.unlink(missing_ok=True)
        setup.update(populate(n, f"sqlite:///{pristine}", args.seed, args.metros))
    setup["setup_peak_rss_gib"] = round(peak_rss_gib(), 2)
    trees: list[tuple[str, Path | None]] = [("current", None)]
    trees += [(str(src), src) for src in args.compare_src]
    rows = []
    for rep in range(args.repeat):
        for label, src in trees:
            scratch = work / f"batch_{n}.db"
            shutil.copyfile(pristine, scratch)
            r = run_batch(f"sqlite:///{scratch}", args.seed, src)
            scratch.unlink()
            rows.append({"users": n, "metros": args.metros, "code": label, "repeat": rep, **setup, **r})
            print(f"# {n:,} users, {label}, run {rep + 1}: {r['batch_s']} s {r['stage_s']}, peak MiB after each"
                  f" stage {r.get('peak_rss_mib_after_stage')}", file=sys.stderr)
    compatible = compatible_pairs(f"sqlite:///{pristine}", args.seed)  # after the runs: their figures come first
    for r in rows:
        r.update(compatible_pairs=compatible,
                 batch_s_per_million_compatible_pairs=round(r["batch_s"] / max(compatible, 1) * 1e6, 3))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, nargs="+", default=[100_000])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--metros", type=int, default=12,
                    help="spread users over the N largest US metros by population (default 12, as simulate)")
    ap.add_argument("--db-dir", type=Path, default=None, help="where the scratch SQLite files go (default: a temp dir)")
    ap.add_argument("--keep-db", type=Path, default=None,
                    help="keep stored populations in this directory and reuse them when present")
    ap.add_argument("--repeat", type=int, default=1, help="batch runs per size (and per source tree)")
    ap.add_argument("--compare-src", type=Path, nargs="+", default=[],
                    help="also run the batch of these source trees (their src/ directories) on the same population")
    ap.add_argument("--batch-only", metavar="URL", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.batch_only is not None:
        batch_only(args.batch_only, args.seed)
        return
    if args.keep_db is not None:
        args.keep_db.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.db_dir) as tmp:
        for n in args.users:
            rows += run(n, Path(tmp), args)
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return
    print(f"# {meta}")
    cols = ["users", "code", "active_users", "batch_s", "compatible_pairs", "batch_s_per_million_compatible_pairs",
            "candidate_pairs", "matches", "coverage", "exposure_gini", "peak_rss_mib", "setup_peak_rss_gib"]
    print(" ".join(cols))
    for r in rows:
        print(" ".join(str(r.get(c)) for c in cols))
        print("   stages:", r["stage_s"])


if __name__ == "__main__":
    main()
