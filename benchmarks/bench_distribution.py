"""The daily batch's distribution step (``distribution.allocate``) on a synthetic 750k-user day.

    nice python benchmarks/bench_distribution.py [--users 750000] [--pairs 12000000] [--baseline REV] [--json]

Seeded synthetic input shaped like a dating batch's offerable pairs: users spread over 12 metros of
Zipf-like sizes, caps 10 (free) and 50 (premium, ~10 %), ~3 % boosted (first week); every pair joins
a uniformly drawn user with a partner drawn in the same metro by a log-normal popularity weight (so
degrees are heavy-tailed: a few users sit in thousands of pairs), distinct pairs only, scores 70-100
(continuous like the batch's final scores; ``--score-decimals 2`` rounds them, so that ties in
priority abound). For ``method="global"`` and ``"greedy"`` it reports the
wall time of ``allocate``, the inclusive time and calls of each of the module's private steps (timed
by wrapping the module's functions), the rounds of the vectorised greedy b-matching (when the module
reports them), and the tracemalloc peak of ``allocate`` (numpy's buffers above what existed before,
in a separate untimed call; the resident peak is VmHWM above VmRSS, VmHWM reset before each timed
call through /proc/self/clear_refs). ``--baseline REV`` also loads ``distribution.py`` as of that git
revision and runs it side by side on the same input (old and new interleaved, best of ``--repeat``),
checking the selections identical.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from perfectmatch.matching import distribution

ROOT = Path(__file__).resolve().parents[1]
MODULE_PATH = "src/perfectmatch/matching/distribution.py"
METROS = 12


def synthetic_day(users: int, pairs: int, seed: int, decimals: int | None = None) -> dict[str, np.ndarray]:
    """Seeded offerable pairs of one day: metros, popularity-weighted partners, caps and boosts."""
    rng = np.random.default_rng(seed)
    share = 1.0 / np.arange(1, METROS + 1) ** 0.8
    metro = np.sort(rng.choice(METROS, size=users, p=share / share.sum()))  # users grouped by metro
    lo = np.searchsorted(metro, np.arange(METROS))
    hi = np.searchsorted(metro, np.arange(METROS), side="right")
    cum = np.cumsum(rng.lognormal(0.0, 1.2, size=users))
    base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
    want = int(pairs * 1.1) + 16
    a = rng.integers(0, users, size=want)
    m_lo, m_hi = base[metro[a]], cum[hi[metro[a]] - 1]
    b = np.minimum(np.searchsorted(cum, m_lo + rng.random(want) * (m_hi - m_lo), side="right"), users - 1)
    a, b = _distinct_pairs(a, b, users)
    a, b = a[:pairs], b[:pairs]
    scores = 70.0 + 30.0 * rng.beta(1.2, 3.5, size=a.size)
    if decimals is not None:
        scores = np.round(scores, decimals)
    caps = np.where(rng.random(users) < 0.10, 50, 10).astype(np.int64)
    boost = rng.random(users) < 0.03
    return {"a": a, "b": b, "scores": scores, "caps": caps, "boost": boost}


def _distinct_pairs(a: np.ndarray, b: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first occurrence of each unordered pair of different users, in drawing order."""
    keep = a != b
    a, b = a[keep], b[keep]
    _, first = np.unique(np.minimum(a, b) * n + np.maximum(a, b), return_index=True)
    first.sort()
    return a[first], b[first]


def load_revision(rev: str) -> ModuleType:
    """``distribution.py`` as of git revision ``rev``, imported as a separate module."""
    source = subprocess.run(["git", "show", f"{rev}:{MODULE_PATH}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"distribution_{rev.replace('/', '_')}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class StepTimer:
    """Wraps a module's private functions to add up their inclusive wall time, calls and rounds."""

    def __init__(self, module: ModuleType) -> None:
        self.module = module
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.rounds: list[int] = []
        self.originals = {name: f for name, f in vars(module).items()
                          if inspect.isfunction(f) and f.__module__ == module.__name__
                          and (name.startswith("_") or name == "offerable")}

    def __enter__(self) -> StepTimer:
        for name, f in self.originals.items():
            setattr(self.module, name, self._wrap(name, f))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, f in self.originals.items():
            setattr(self.module, name, f)

    def _wrap(self, name: str, f: Any) -> Any:
        @functools.wraps(f)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = f(*args, **kwargs)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "_greedy_rounds":  # the new module's core returns (chosen, rounds)
                self.rounds.append(int(out[1]))
            return out
        return timed


def run_allocate(module: ModuleType, day: dict[str, np.ndarray], method: str) -> Any:
    """One ``allocate`` call of ``module`` on ``day``."""
    return module.allocate(day["a"], day["b"], day["scores"], caps=day["caps"], boost=day["boost"], method=method)


def traced_peak(module: ModuleType, day: dict[str, np.ndarray], method: str) -> float:
    """GiB allocated at the peak of one ``allocate`` call above what was allocated before it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run_allocate(module, day, method)
        return (tracemalloc.get_traced_memory()[1] - before) / 2**30
    finally:
        tracemalloc.stop()


def measure(module: ModuleType, day: dict[str, np.ndarray], method: str) -> tuple[dict[str, Any], np.ndarray]:
    """Wall time, resident peak and step breakdown of one ``allocate`` call, and its selection."""
    before = reset_resident_peak()
    with StepTimer(module) as timer:
        t0 = time.perf_counter()
        alloc = run_allocate(module, day, method)
        seconds = time.perf_counter() - t0
    peak = _status_gib("VmHWM") - before
    row = {"seconds": round(seconds, 3), "rss_peak_gib": round(peak, 3), "matches": int(alloc.selected.size),
           "coverage": round(alloc.coverage, 4), "gini": round(alloc.gini, 4),
           "steps": {k: {"seconds": round(v, 3), "calls": timer.calls[k]} for k, v in timer.seconds.items()}}
    if timer.rounds:
        row["rounds"] = timer.rounds
    return row, alloc.selected


def _status_gib(field: str) -> float:
    """A memory field of this process (``VmHWM``, ``VmRSS``) in GiB, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def reset_resident_peak() -> float:
    """Reset VmHWM to the current resident size (``5`` into /proc/self/clear_refs); return that size."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return _status_gib("VmRSS")


def vm_hwm_gib() -> float:
    """This process's resident high-water mark (VmHWM) in GiB."""
    return _status_gib("VmHWM")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate the day, then time every (implementation, method), best of ``--repeat``, interleaved."""
    t0 = time.perf_counter()
    day = synthetic_day(args.users, args.pairs, args.seed, args.score_decimals)
    degree = np.bincount(np.concatenate([day["a"], day["b"]]), minlength=args.users)
    impls: dict[str, ModuleType] = {"current": distribution}
    if args.baseline:
        impls = {f"baseline {args.baseline}": load_revision(args.baseline), **impls}
    out: dict[str, Any] = {
        "users": args.users, "pairs": int(day["a"].size), "seed": args.seed, "score_decimals": args.score_decimals,
        "premium": int((day["caps"] == 50).sum()),
        "degree": {"mean": round(float(degree.mean()), 2), "p99": int(np.percentile(degree, 99)),
                   "max": int(degree.max())},
        "generate_s": round(time.perf_counter() - t0, 2), "load_average": [round(x, 2) for x in os.getloadavg()],
        "rows": [],
    }
    for method in args.methods:
        best: dict[str, dict[str, Any]] = {}
        selections: dict[str, np.ndarray] = {}
        for _ in range(args.repeat):
            for name, module in impls.items():
                row, selections[name] = measure(module, day, method)
                if name not in best or row["seconds"] < best[name]["seconds"]:
                    best[name] = row
        reference = next(iter(selections.values()))
        for name, module in impls.items():
            row = {"impl": name, "method": method, **best[name],
                   "identical_to_first": bool(np.array_equal(selections[name], reference))}
            if not args.no_memory:
                row["tracemalloc_peak_gib"] = round(traced_peak(module, day, method), 3)
            out["rows"].append(row)
            if not args.json:
                print(_line(row), flush=True)
    out["vm_hwm_gib"] = round(vm_hwm_gib(), 3)
    return out


def _line(row: dict[str, Any]) -> str:
    """A one-line human summary of a result row."""
    steps = ", ".join(f"{k} {v['seconds']}s x{v['calls']}" for k, v in row["steps"].items())
    extra = f" rounds {row['rounds']}" if "rounds" in row else ""
    peak = f" resident peak +{row['rss_peak_gib']} GiB"
    peak += f", tracemalloc peak {row['tracemalloc_peak_gib']} GiB" if "tracemalloc_peak_gib" in row else ""
    return (f"{row['impl']:>20} {row['method']:>6}: {row['seconds']:.3f} s, {row['matches']:,} matches, "
            f"coverage {row['coverage']}, identical {row['identical_to_first']}{peak}{extra}\n    {steps}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=750_000)
    p.add_argument("--pairs", type=int, default=12_000_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--score-decimals", type=int, default=None, help="round the scores (ties in priority)")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--methods", nargs="+", default=["global", "greedy"], choices=["global", "greedy"])
    p.add_argument("--baseline", default=None, help="git revision of distribution.py to compare with")
    p.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"{out['users']:,} users, {out['pairs']:,} pairs, degree {out['degree']}, VmHWM {out['vm_hwm_gib']} GiB")
    return 0 if all(r["identical_to_first"] for r in out["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
