"""Run every benchmark of the project in one go and write one markdown table of what they measured.

    python benchmarks/run_all.py [--quick] [--only NAME ...] [--out benchmarks/RESULTS.md] [--update-readme]

Each benchmark runs as its own process with ``--json`` (so peak memory and BLAS settings do not leak
from one into the next); its output is reduced to a few rows of ``measure | ours | compared with |
ratio``, where every ratio is between figures taken side by side in the same run. ``--quick`` runs
tiny sizes (a smoke test of the whole suite, about two minutes); the default sizes are the ones the
README quotes. ``--update-readme`` replaces the table between the ``bench-suite`` markers of the
README with the new one. The header records the machine, the library versions and every command.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
README_START, README_END = "<!-- bench-suite:start -->", "<!-- bench-suite:end -->"
Row = tuple[str, str, str, str]  # measure, ours, compared with, ratio


@dataclass(frozen=True)
class Bench:
    """One benchmark: how to run it at the standard and quick sizes, and how to summarise its JSON."""

    name: str
    title: str
    standard: list[str]
    quick: list[str]
    summarise: Callable[[Any], list[Row]]
    needs: Path | None = None  # a data file it reads (skipped with a note when absent)


def _x(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def _questionnaire(rows: list[dict[str, Any]]) -> list[Row]:
    by = {(r["bank"], r["strategy"]): r for r in rows}
    mi, fixed, rnd = (by[("flat200", s)] for s in ("most_informative", "fixed", "random"))
    out: list[Row] = [
        ("flat200: questions until RMSE 0.5", str(mi["q@0.5"]), f"fixed {fixed['q@0.5']} / random {rnd['q@0.5']}",
         f"{_x(mi['q@0.5'], fixed['q@0.5'])} / {_x(mi['q@0.5'], rnd['q@0.5'])}"),
        ("flat200: asked with the precision stop (sd 0.45)", str(mi["asked@sd0.45"]),
         f"fixed {fixed['asked@sd0.45']} / random {rnd['asked@sd0.45']}",
         f"{_x(mi['asked@sd0.45'], fixed['asked@sd0.45'])} / {_x(mi['asked@sd0.45'], rnd['asked@sd0.45'])}"),
    ]
    if mi.get("ms_per_step") is not None:
        out.append(("flat200: ms per step (present + record)", f"{mi['ms_per_step']}", "target 1 ms",
                    _x(mi["ms_per_step"], 1.0)))
    return out


def _big5(doc: dict[str, Any]) -> list[Row]:
    by = {r["strategy"]: r for r in doc["rows"]}
    mi, fixed, rnd = by["most_informative"], by["fixed"], by["random"]

    def mean_items(r: dict[str, Any]) -> float:
        return sum(r["items_per_trait"].values()) / len(r["items_per_trait"])

    return [
        (f"items per trait until within {doc['meta']['epsilon']} sd ({doc['meta']['replayed']} real respondents)",
         f"{mean_items(mi):.2f}", f"test order {mean_items(fixed):.2f} / random {mean_items(rnd):.2f}",
         f"{_x(mean_items(mi), mean_items(fixed))} / {_x(mean_items(mi), mean_items(rnd))}"),
        ("questions until all five traits are within", f"{mi['questions_for_all_traits']}",
         f"test order {fixed['questions_for_all_traits']} / random {rnd['questions_for_all_traits']}",
         _x(mi["questions_for_all_traits"], fixed["questions_for_all_traits"])),
    ]


def _candidates(doc: dict[str, Any]) -> list[Row]:
    methods = doc["methods"]
    exact = methods[0]
    out: list[Row] = [(f"exact, {doc['users']:,} users, d={doc['d']}: seconds (recall)",
                       f"{exact['seconds']} ({exact['recall']})", "-", "1x")]
    for m in methods[1:]:
        recall = "n/a" if m["recall"] is None else m["recall"]
        out.append((f"{m['method']}: seconds (recall)", "-", f"{m['seconds']} ({recall})",
                    f"exact {m['x_exact_time']}x faster" if m["x_exact_time"] >= 1
                    else f"exact {m['x_exact_time']}x (slower)"))
    out.append(("exact equals brute force on the sample", str(doc["exact_equals_brute_force_on_sample"]), "", ""))
    return out


def _batch(doc: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for r in doc["rows"]:
        stages = ", ".join(f"{k} {v:g}" for k, v in r["stage_s"].items() if v)
        out += [
            (f"whole batch without AI, {r['users']:,} users: seconds", f"{r['batch_s']}", stages, ""),
            ("prefilter-compatible pairs / candidate pairs / matches",
             f"{r['compatible_pairs']:,} / {r['candidate_pairs']:,} / {r['matches']:,}",
             f"coverage {r['coverage']}, Gini {r['exposure_gini']}", ""),
            ("seconds per million compatible pairs", f"{r['batch_s_per_million_compatible_pairs']}", "", ""),
            ("store rows/s: users+profiles+preferences / vectors",
             f"{r['store_users_rows_per_s']:,} / {r['store_vectors_rows_per_s']:,}", "target 100,000",
             f"{_x(r['store_users_rows_per_s'], 100_000)} / {_x(r['store_vectors_rows_per_s'], 100_000)}"),
            ("peak memory GiB of the batch process alone", f"{r['peak_rss_gib']}", "target 6 at 1M", ""),
        ]
    return out


def _storage(doc: dict[str, Any]) -> list[Row]:
    by = {(r["path"], r["db"]): r["rows_per_s"] for r in doc["rows"]}
    dbs = list(dict.fromkeys(r["db"] for r in doc["rows"]))
    target = doc["meta"]["target_rows_per_s"]
    return [(f"{path}: rows/s, {doc['meta']['users']:,} users ({' / '.join(dbs)})",
             " / ".join(f"{by[(path, d)]:,}" for d in dbs), f"target {target:,}",
             " / ".join(_x(by[(path, d)], target) for d in dbs))
            for path in dict.fromkeys(r["path"] for r in doc["rows"])]


def _populations(rows: list[dict[str, Any]]) -> list[Row]:
    return [(f"{r['task']}: users/s ({r['rows']:,} users)", f"{r['rows_per_s']:,.0f}", "", "") for r in rows]


def _ai(r: dict[str, Any]) -> list[Row]:
    return [
        (f"requests/min against the bundled fake server ({r['pairs']:,} pairs)", f"{r['steady_rpm']}",
         f"limit {r['rpm_limit']}", f"{r['share_of_limit']:.1%} of the limit"),
        ("tokens and cost per 1,000 delivered matches", f"{r['tokens_per_1k_matches']:,} tokens",
         f"${r['cost_usd_per_1k_matches']} ({r['model']})", ""),
    ]


def _dask(doc: dict[str, Any]) -> list[Row]:
    local = next(r for r in doc["rows"] if r["engine"] == "local")
    out: list[Row] = [(f"candidate stage, {doc['users']:,} users, local engine: seconds", f"{local['seconds']}", "",
                       "1x")]
    for r in doc["rows"]:
        if r["engine"] != "dask":
            continue
        extra = f"overhead {r['overhead_s']} s" if "overhead_s" in r else ""
        out.append((f"dask, {r['workers']} worker(s): seconds (identical to local: {r.get('identical')})",
                    f"{r['seconds']}", extra,
                    f"{_x(local['seconds'], r['seconds'])} vs local"
                    + (f", {r['speedup_vs_dask1']}x vs 1 worker" if "speedup_vs_dask1" in r else "")))
    return out


def _distribution(doc: dict[str, Any]) -> list[Row]:
    """Rows for ``bench_distribution.py``: allocate's seconds and peak memory, old revision vs current."""
    out: list[Row] = []
    for method in dict.fromkeys(r["method"] for r in doc["rows"]):
        rows = [r for r in doc["rows"] if r["method"] == method]
        new, old = rows[-1], rows[0]
        rounds = f", rounds {'+'.join(map(str, new['rounds']))}" if "rounds" in new else ""
        out += [
            (f"allocate({method}), {doc['users']:,} users, {doc['pairs']:,} pairs: seconds", f"{new['seconds']}",
             f"{old['impl']} {old['seconds']}", _x(old["seconds"], new["seconds"]) + " faster"),
            (f"allocate({method}): tracemalloc peak GiB (identical selection: {new['identical_to_first']}{rounds})",
             f"{new.get('tracemalloc_peak_gib', '-')}", f"{old['impl']} {old.get('tracemalloc_peak_gib', '-')}", ""),
        ]
    return out


def _speed_dating(doc: dict[str, Any]) -> list[Row]:
    """Rows for ``perfectmatch eval speed-dating --json``: ROC AUC for the mutual match, every scorer."""
    out: list[Row] = []
    results = doc["results"]
    ours = next((r for r in results if r["name"] != "random"), results[0])
    for r in results:
        auc = r["auc"]["match"]
        out.append((f"speed dating ({doc['pairs']:,} dates), match ROC AUC: {r['name']}",
                    f"{auc['value']:.3f}" if r is ours else "-",
                    "" if r is ours else f"{auc['value']:.3f}",
                    f"95% CI {auc['lo']:.3f}-{auc['hi']:.3f}"))
    return out


PY = sys.executable
BENCHES = [
    Bench("questionnaire", "Questionnaire: most-informative order vs fixed and random",
          [PY, "benchmarks/bench_questionnaire.py", "--respondents", "300"],
          [PY, "benchmarks/bench_questionnaire.py", "--respondents", "20"], _questionnaire),
    Bench("big5", "Questionnaire: real Big Five respondents replayed",
          [PY, "benchmarks/bench_big5_replay.py", "--respondents", "2000"],
          [PY, "benchmarks/bench_big5_replay.py", "--respondents", "100"], _big5,
          needs=SHARED / "personality" / "big5_openpsychometrics_shared.tsv.gz"),
    Bench("candidates", "Candidate stage: exact blocked vs naive, hnswlib and approximate mode",
          [PY, "benchmarks/bench_candidates.py", "--users", "100000", "--naive-sample", "200"],
          [PY, "benchmarks/bench_candidates.py", "--users", "4000", "--naive-sample", "100"], _candidates),
    Bench("batch", "Whole daily batch without AI (SQLite)",
          [PY, "benchmarks/bench_batch.py", "--users", "100000"],
          [PY, "benchmarks/bench_batch.py", "--users", "3000"], _batch),
    Bench("populations", "Population storage paths",
          [PY, "benchmarks/bench_populations.py", "--users", "100000", "--repeat", "1",
           "--okcupid", str(SHARED / "okcupid" / "okcupid_profiles_revised_shared.csv.gz")],
          [PY, "benchmarks/bench_populations.py", "--users", "3000", "--repeat", "1", "--no-okcupid"],
          _populations),
    Bench("storage", "Bulk storage paths of the batch: SQLite and PostgreSQL side by side",
          [PY, "benchmarks/bench_storage.py", "--users", "100000", "--repeat", "3"],
          [PY, "benchmarks/bench_storage.py", "--users", "3000", "--repeat", "1"], _storage),
    Bench("ai", "AI layer throughput against the bundled fake server",
          [PY, "benchmarks/bench_ai.py", "--seconds", "30"],
          [PY, "benchmarks/bench_ai.py", "--seconds", "3"], _ai),
    Bench("dask", "Dask engine: 1, 2 and 4 worker processes vs the local engine",
          [PY, "benchmarks/bench_dask.py", "--users", "100000", "--workers", "1", "2", "4"],
          [PY, "benchmarks/bench_dask.py", "--users", "3000", "--workers", "1", "2"], _dask),
    Bench("distribution", "Distribution step (allocate): round-based b-matching vs the code before it",
          [PY, "benchmarks/bench_distribution.py", "--users", "200000", "--pairs", "3200000", "--baseline", "f90830e"],
          [PY, "benchmarks/bench_distribution.py", "--users", "5000", "--pairs", "60000", "--baseline", "f90830e"],
          _distribution),
    Bench("speed_dating", "Match quality on the speed-dating experiment (pre-date data only)",
          [PY, "-m", "perfectmatch", "eval", "speed-dating",
           str(SHARED / "speed_dating" / "speed_dating_waves01-14_shared.csv.gz")],
          [PY, "-m", "perfectmatch", "eval", "speed-dating",
           str(SHARED / "speed_dating" / "speed_dating_waves01-14_shared.csv.gz"), "--bootstrap", "50"],
          _speed_dating, needs=SHARED / "speed_dating" / "speed_dating_waves01-14_shared.csv.gz"),
]


def parse_json(stdout: str) -> Any:
    """The JSON document a benchmark printed (anything before its first ``{``/``[`` line is ignored)."""
    lines = stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(("{", "[")):
            return json.loads("\n".join(lines[i:]))
    raise ValueError("no JSON document in the output")


def run_one(bench: Bench, quick: bool) -> tuple[list[str], list[Row], float, str | None]:
    """Run ``bench``; return its command, summary rows, seconds and an error note (or ``None``)."""
    cmd = [*(bench.quick if quick else bench.standard), "--json"]
    if bench.needs is not None and not bench.needs.exists():
        return cmd, [], 0.0, f"skipped: {bench.needs} not found"
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": "src"})
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        return cmd, [], seconds, f"failed (exit {proc.returncode}): {tail}"
    try:
        return cmd, bench.summarise(parse_json(proc.stdout)), seconds, None
    except (ValueError, KeyError, StopIteration, TypeError) as exc:
        return cmd, [], seconds, f"could not read its output: {exc!r}"


def machine() -> dict[str, str]:
    """Machine and library versions for the report header."""
    versions = {}
    for pkg in ("perfectmatch", "numpy", "scipy", "hnswlib", "sqlalchemy", "pydantic", "dask", "scikit-learn"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load average at start": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "libraries": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def render(results: list[tuple[Bench, list[str], list[Row], float, str | None]], quick: bool) -> str:
    """The markdown report: header, one table of all rows, then the commands."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"Benchmark suite, {'quick sizes' if quick else 'standard sizes'}, run {when} with "
             f"`python benchmarks/run_all.py{' --quick' if quick else ''}`.", ""]
    lines += [f"- {k}: {v}" for k, v in machine().items()]
    lines += ["", "| benchmark | measure | ours | compared with (same run) | ratio |", "|---|---|---|---|---|"]
    for bench, _, rows, _, note in results:
        if note:
            lines.append(f"| {bench.title} | {note} | | | |")
        for measure, ours, other, ratio in rows:
            lines.append(f"| {bench.title} | {measure} | {ours} | {other} | {ratio} |")
    lines += ["", "Commands (each with `--json`, from the repository root):", ""]
    for bench, cmd, _, seconds, _ in results:
        shown = " ".join("python" if c == PY else c.replace(str(ROOT.parent), "..") for c in cmd)
        lines.append(f"- {bench.name} ({seconds:.0f} s): `{shown}`")
    return "\n".join(lines) + "\n"


def update_readme(table: str, readme: Path = ROOT / "README.md") -> None:
    """Replace the text between the bench-suite markers of the README with ``table``."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), flags=re.S)
    if not pattern.search(text):
        raise SystemExit(f"{readme} has no {README_START} ... {README_END} markers")
    readme.write_text(pattern.sub(lambda _: f"{README_START}\n{table}{README_END}", text))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of the whole suite")
    ap.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run only these")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown here (default: print it)")
    ap.add_argument("--update-readme", action="store_true", help="put the table into README.md")
    args = ap.parse_args(argv)
    results = []
    for bench in BENCHES:
        if args.only and bench.name not in args.only:
            continue
        print(f"# {bench.name} ...", file=sys.stderr, flush=True)
        cmd, rows, seconds, note = run_one(bench, args.quick)
        print(f"# {bench.name}: {seconds:.0f} s{' - ' + note if note else ''}", file=sys.stderr, flush=True)
        results.append((bench, cmd, rows, seconds, note))
    report = render(results, args.quick)
    if args.out:
        args.out.write_text(report)
    else:
        print(report)
    if args.update_readme:
        update_readme(report)
    return 1 if any(note and note.startswith(("failed", "could not")) for *_, note in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
