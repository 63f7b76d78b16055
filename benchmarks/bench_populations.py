"""Rows per second of ``simulate`` (generate, and generate + store) and of the whole OkCupid import.

    python benchmarks/bench_populations.py --users 100000 [--db URL] [--okcupid PATH] [--json]

Each figure is one end-to-end run on a fresh database (a temporary SQLite file unless ``--db`` is
given; with ``--db`` the database must be empty, or the OkCupid rows count as already imported).
Generation alone is the best of ``--repeat`` runs. Prints one row per task:
``task rows seconds rows_per_s``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

from perfectmatch.bootstrap import build_app
from perfectmatch.config import Settings
from perfectmatch.populations.okcupid import import_okcupid
from perfectmatch.populations.simulate import simulate
from perfectmatch.populations.store import simulate_and_store

SHARED = Path(__file__).resolve().parents[2] / "shared/data/okcupid/okcupid_profiles_revised_shared.csv.gz"


def _row(task: str, rows: int, seconds: float) -> dict[str, object]:
    return {"task": task, "rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds, 1)}


def run(users: int, seed: int, db: str | None, okcupid: Path | None, repeat: int) -> list[dict[str, object]]:
    today = date.today()
    rows = []
    best = min(_timed(lambda: simulate(users, seed, today=today)) for _ in range(repeat))
    rows.append(_row("simulate: generate", users, best))
    with tempfile.TemporaryDirectory() as tmp:
        for task in ("simulate: generate + store", "okcupid: import", "okcupid: re-import (adds 0)"):
            if task.startswith("okcupid") and (okcupid is None or not okcupid.exists()):
                continue
            url = db or f"sqlite:///{Path(tmp) / (task.split(':')[0] + '.db')}"
            app = build_app(Settings(_env_file=None, db_url=url), cache=None)  # type: ignore[call-arg]
            try:
                if task.startswith("simulate"):
                    report = simulate_and_store(app.uow, users, seed, today=today)
                    rows.append(_row(task, report.users, report.seconds))
                else:
                    assert okcupid is not None
                    imp = import_okcupid(okcupid, app.uow, today=today, seed=seed)
                    rows.append(_row(task, imp.rows_read, imp.seconds) | {"imported": imp.imported})
            finally:
                app.close()
    return rows


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file per task)")
    parser.add_argument("--okcupid", type=Path, default=SHARED, help="OkCupid CSV (.csv.gz)")
    parser.add_argument("--no-okcupid", action="store_true", help="skip the OkCupid import tasks")
    parser.add_argument("--repeat", type=int, default=3, help="runs of generation alone (best is kept)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = run(args.users, args.seed, args.db, None if args.no_okcupid else args.okcupid, max(1, args.repeat))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'task':<30} {'rows':>9} {'seconds':>9} {'rows_per_s':>11}")
    for r in rows:
        print(f"{r['task']:<30} {r['rows']:>9} {r['seconds']:>9} {r['rows_per_s']:>11}")


if __name__ == "__main__":
    main()
