"""The candidate stage on the Dask engine with 1, 2 and 4 worker processes, against the local engine.

    nice python benchmarks/bench_dask.py --users 100000 --workers 1 2 4 [--vectors profile|synthetic] [--json]
    nice python benchmarks/bench_dask.py --users 100000 --workers 2 --batch   # the whole batch, no AI

One seeded ``simulate`` population (the 12 largest US metros) with the batch's own profile vectors
(``--vectors profile``: the questionnaire answers through the vector spec, 323-d, as stored by
``perfectmatch simulate``) or ``bench_candidates``' synthetic 64-d vectors. The task is the batch's
candidates stage exactly: mutual prefilters, similarity >= 0.65, top 50 per user, radius expansion
(min pool 20, up to 200 km). ``local`` is ``candidates.generate_with_expansion`` in this process;
``dask W`` is ``distributed.dask_candidates`` on a ``LocalCluster`` of W single-threaded worker
processes (started before the clock runs; its start-up is reported apart). Every dask result is
checked identical to the local one. Columns:

* ``seconds``: the stage's wall time; ``speed-up``: local seconds / these seconds.
* ``workers busy``: the busiest worker process's own compute time (its tasks: the first pass of its
  partition, then that partition's expansion pass; what more workers can shrink).
* ``critical CPU``: the client's CPU plus the busiest worker process's task CPU: the run time to
  expect when every worker has a core of its own. ``first/expansion CPU share``: each task's share
  of the pass's CPU (how evenly the partitions split it).
* ``overhead``: everything else: partitioning and packing on the client, shipping (scatter),
  scheduling and result transfer, placing the lists, the client's expansion rounds
  (``EngineTimings.overhead_s``), with the components alongside; ``client CPU`` its CPU seconds.
* ``halo``: users shipped to a partition besides its own (the price of geographic partitions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from perfectmatch.matching.candidates import generate_with_expansion
from perfectmatch.matching.distributed import EngineTimings, dask_candidates, dask_client, partition_users
from perfectmatch.matching.prefilter import build_rules
from perfectmatch.matching.vectors import cosine_threshold
from perfectmatch.populations.simulate import simulate

DAY = date(2026, 11, 25)
K, SIMILARITY, MIN_POOL, MAX_RADIUS_KM = 50, 0.65, 20, 200.0


def population(n: int, seed: int, kind: str) -> tuple[Any, np.ndarray, float]:
    """``(frame, vecs, cosine threshold)`` for ``n`` simulated users."""
    if kind == "synthetic":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_candidates import calibrate_mean, synthetic_vectors

        pop = simulate(n, seed, today=DAY, bank=False)
        mean = calibrate_mean(pop.traits, 64, seed, SIMILARITY, 0.05, 1.0)
        return pop.frame, synthetic_vectors(pop.traits, 64, seed, mean=mean, noise=1.0), SIMILARITY
    from perfectmatch.bootstrap import build_app
    from perfectmatch.config import Settings
    from perfectmatch.populations.vectors import answer_matrix_vectors

    pop = simulate(n, seed, today=DAY)
    app = build_app(Settings(_env_file=None, db_url="sqlite://", cache={"backend": "none"}, seed=seed))
    vs = answer_matrix_vectors(app.vector_spec, pop.answers, pop.frame.ids)
    app.close()
    return pop.frame, vs.vecs, cosine_threshold(SIMILARITY)


def run(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    frame, vecs, threshold = population(args.users, args.seed, args.vectors)
    rules = build_rules(frame, day=DAY)
    setup_s = time.perf_counter() - t0
    kw = {"k": K, "threshold": threshold, "min_pool": MIN_POOL, "max_radius_km": MAX_RADIUS_KM}
    t0, c0 = time.perf_counter(), time.process_time()
    want, _ = generate_with_expansion(frame, vecs, rules, **kw)
    local_s, local_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows: list[dict[str, Any]] = [
        {
            "engine": "local",
            "workers": 1,
            "seconds": round(local_s, 2),
            "speedup": 1.0,
            "cpu_s": round(local_cpu, 2),
            "critical_cpu_s": round(local_cpu, 2),
            "cpu_speedup": 1.0,
        }
    ]
    print(f"# local: {local_s:.2f} s", file=sys.stderr)
    for w in args.workers:
        t0 = time.perf_counter()
        with dask_client(None, workers=w) as client:
            client.run(lambda: __import__("perfectmatch.matching.distributed"))  # imports before the clock
            startup_s = time.perf_counter() - t0
            timings = EngineTimings()
            t0, c0 = time.perf_counter(), time.process_time()
            got, _ = dask_candidates(client, frame, vecs, rules, timings=timings, **kw)
            seconds, client_cpu = time.perf_counter() - t0, time.process_time() - c0
        # the CPU on the critical path: the client's own, plus the busiest worker process's tasks (each
        # task runs its partition's first pass and then its expansion pass, with no barrier between)
        critical = client_cpu + timings.busiest_cpu_s
        identical = bool(np.array_equal(got.idx, want.idx) and np.array_equal(got.sims, want.sims, equal_nan=True))
        t = timings.as_dict()
        rows.append(
            {
                "engine": "dask",
                "workers": w,
                "seconds": round(seconds, 2),
                "speedup": round(local_s / seconds, 2),
                "identical": identical,
                "cluster_start_s": round(startup_s, 2),
                "workers_busy_s": round(timings.busiest_s, 2),
                "first_pass_cpu_share": _shares(timings.worker_cpu_s),
                "expansion_cpu_share": _shares(timings.expansion_worker_cpu_s),
                "cpu_s": round(client_cpu + timings.worker_cpu_total_s, 2),
                "critical_cpu_s": round(critical, 2),
                "cpu_speedup": round(local_cpu / critical, 2),
                "client_cpu_s": round(client_cpu, 2),
                **t,
            }
        )
        print(f"# dask {w}: {seconds:.2f} s identical={identical} {json.dumps(rows[-1])}", file=sys.stderr)
    one = next((r["seconds"] for r in rows if r["engine"] == "dask" and r["workers"] == 1), None)
    for r in rows:
        if r["engine"] == "dask" and one:
            r["speedup_vs_dask1"] = round(one / r["seconds"], 2)
    parts = {
        w: partition_users(
            frame, rules, parts=w, reach_km=np.maximum(rules.radius_km, MAX_RADIUS_KM), min_pool=MIN_POOL
        )
        for w in args.workers
    }
    balance = {w: [round(p.work / max(sum(q.work for q in ps), 1.0), 3) for p in ps] for w, ps in parts.items()}
    return {
        "users": args.users,
        "active": int(rules.active.sum()),
        "vectors": args.vectors,
        "dim": int(vecs.shape[1]),
        "setup_s": round(setup_s, 1),
        "rows": rows,
        "work_share": balance,
        "meta": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "cores": os.cpu_count(),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        },
    }


def _shares(seconds: list[float]) -> list[float]:
    """Each task's share of the seconds of all tasks (how evenly a pass was split)."""
    total = sum(seconds)
    return [round(s / total, 3) if total else 0.0 for s in seconds]


def run_batch(args: argparse.Namespace) -> dict[str, Any]:
    """The whole daily batch without the AI stage (``--batch``), on SQLite copies of one stored
    population: local engine, then the Dask engine with each ``--workers`` (its local cluster's
    start-up is inside the candidates stage here, as in production), matches compared."""
    import shutil
    import tempfile
    from datetime import UTC, datetime

    from perfectmatch.adapters.clock import FakeClock
    from perfectmatch.adapters.notify.basic import RecordingNotifier
    from perfectmatch.bootstrap import build_app
    from perfectmatch.config import DaskSettings, Settings
    from perfectmatch.pipeline import run_daily_batch
    from perfectmatch.populations.vectors import answer_matrix_vectors

    def app_at(url: str) -> Any:
        settings = Settings(
            _env_file=None, db_url=url, cache={"backend": "none"}, seed=args.seed, matching={"ai_stage": False}
        )
        return build_app(
            settings, clock=FakeClock(datetime(2026, 11, 25, 3, 0, tzinfo=UTC)), notifier=RecordingNotifier()
        )

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        app = app_at(f"sqlite:///{template}")
        pop = simulate(args.users, args.seed, today=DAY)
        with app.uow as uow:
            ids = uow.population.save(pop.frame)
            uow.commit()
        with app.uow as uow:
            uow.vector_matrix.save_matrix(answer_matrix_vectors(app.vector_spec, pop.answers, ids))
            uow.commit()
        app.close()
        del pop
        reference = None
        for engine, w in [("local", 1), *(("dask", w) for w in args.workers)]:
            path = Path(tmp) / f"{engine}{w}.db"
            shutil.copy(template, path)
            app = app_at(f"sqlite:///{path}")
            t0 = time.perf_counter()
            report = run_daily_batch(app, day=DAY, engine=engine, dask=DaskSettings(workers=w))
            seconds = time.perf_counter() - t0
            with app.uow as uow:
                got = sorted((m.user_a, m.user_b, m.final_score) for m in uow.batch.matches_on(DAY))
            app.close()
            reference = got if reference is None else reference
            rows.append(
                {
                    "engine": engine,
                    "workers": w,
                    "batch_s": round(seconds, 2),
                    "candidates_s": report.stage_seconds.get("candidates"),
                    "stage_s": report.stage_seconds,
                    "matches": report.counts["matches"],
                    "identical": got == reference,
                    "overhead_s": report.counts.get("dask", {}).get("overhead_s"),
                }
            )
            print(f"# batch {engine} {w}: {seconds:.2f} s {json.dumps(rows[-1])}", file=sys.stderr)
    local = rows[0]["batch_s"]
    for r in rows:
        r["speedup"] = round(local / r["batch_s"], 2)
    return {
        "users": args.users,
        "batch": True,
        "rows": rows,
        "meta": {"load_avg": [round(x, 2) for x in os.getloadavg()], "cores": os.cpu_count()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--vectors", choices=("profile", "synthetic"), default="profile")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--batch", action="store_true", help="time the whole batch without AI instead of the stage")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.batch:
        out = run_batch(args)
        print(
            json.dumps(out, indent=2)
            if args.json
            else "\n".join(
                f"{r['engine']} {r['workers']}: batch {r['batch_s']} s (x{r['speedup']}), "
                f"candidates {r['candidates_s']} s, matches {r['matches']}, identical {r['identical']}, "
                f"overhead {r['overhead_s']}"
                for r in out["rows"]
            )
        )
        return
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(
        f"# {out['users']:,} users ({out['active']:,} active), {out['vectors']} vectors d={out['dim']}; {out['meta']}"
    )
    print(f"# pair-work share per partition: {out['work_share']}")
    cols = [
        "engine",
        "workers",
        "seconds",
        "speedup",
        "speedup_vs_dask1",
        "cpu_s",
        "critical_cpu_s",
        "cpu_speedup",
        "client_cpu_s",
        "identical",
        "workers_busy_s",
        "first_pass_cpu_share",
        "expansion_cpu_share",
        "overhead_s",
        "partition_s",
        "scatter_s",
        "compute_s",
        "merge_s",
        "expansion_s",
        "halo_users",
        "cluster_start_s",
    ]
    print(" | ".join(cols))
    for r in out["rows"]:
        print(" | ".join(str(r.get(c, "-")) for c in cols))


if __name__ == "__main__":
    main()
