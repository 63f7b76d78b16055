"""Candidate stage side by side: exact blocked mode, approximate mode, naive baseline, hnswlib then filter.

    python benchmarks/bench_candidates.py --users 100000 --k 50 [--json]

One seeded population (``perfectmatch.populations.simulate``: the 12 largest US metros, real city
coordinates and populations, realistic ages, orientations, radii, goals and activity) with
synthetic ``d``-dimensional unit vectors: a shared mean direction plus the user's five latent
traits through a fixed random projection plus noise, so that similar people are similar vectors
and about ``--pass-rate`` of all pairs reach the threshold. Every method computes the same task:
for each active user, the top ``k`` partners passing every mutual prefilter (genders, ages,
distance within both radii, goals, activity) with cosine >= ``--threshold``.

* ``exact``: ``candidates.exact_candidates`` (blocked products on ``--workers`` threads, 2 by default
  as hnswlib's; min of ``--repeat`` runs).
* ``naive``: dense similarity of query rows with all users, then the prefilter as a boolean mask
  (``candidates.dense_candidates``), on ``--naive-sample`` query rows, extrapolated linearly to
  all active users (it is linear in the number of query rows). Its rows are the brute-force
  reference: exact must equal it there (recall 1.0, identical lists).
* ``approx (partitioned hnswlib)``: ``hnsw.approx_candidates`` (the approximate mode, defaults:
  one HNSW graph (M=16, ef=100) per group of ~8,192 users of compatible blocks, exact products for
  groups under 4,096, ``4 k`` neighbours per group, exact refinement of rows left short); recall
  against exact, with the number of graphs and of rows refined exactly.
* ``hnswlib then filter``: ``hnsw.HnswIndex`` (M=16, ef=100): build over active users, query
  ``4 k`` neighbours, exact post-filter, one graph over everyone (``partitioned=False``); recall
  against exact. The *adaptive* row lets users left
  short ask again for x4 more neighbours up to ``--hnsw-max-fetch``. ``hnswlib raw`` is build +
  top-k query alone (no prefilter), the figure the issue's prototype quoted.

``pairs/s`` = active users squared / seconds (the all-pairs problem size handled per second).
Peak memory is the resident-set high-water mark during the method minus the resident memory just
before it (population and vectors excluded).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np

from perfectmatch.matching.candidates import Candidates, dense_survivors, exact_candidates, to_candidates
from perfectmatch.matching.evaluation import recall_at_k
from perfectmatch.matching.hnsw import HnswIndex, approx_candidates
from perfectmatch.matching.prefilter import build_rules
from perfectmatch.populations.simulate import simulate

DAY = date(2026, 11, 25)


def synthetic_vectors(traits: np.ndarray, d: int, seed: int, *, mean: float, noise: float) -> np.ndarray:
    """``(n, d)`` float32 unit rows: ``mean * mu + traits @ W + noise * N(0, I)``, normalised."""
    rng = np.random.default_rng(seed + 1)
    w = rng.normal(size=(traits.shape[1], d)) / np.sqrt(d)
    mu = np.abs(rng.normal(size=d))
    mu /= np.linalg.norm(mu)
    v = mean * mu + traits @ w + noise * rng.normal(size=(traits.shape[0], d)) / np.sqrt(d)
    v = v.astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def calibrate_mean(traits: np.ndarray, d: int, seed: int, threshold: float, pass_rate: float, noise: float) -> float:
    """The ``mean`` for which about ``pass_rate`` of random pairs have cosine >= ``threshold``."""
    rng = np.random.default_rng(seed + 2)
    sample = traits[rng.choice(traits.shape[0], min(4000, traits.shape[0]), replace=False)]
    lo, hi = 0.0, 20.0
    for _ in range(30):
        mid = (lo + hi) / 2
        v = synthetic_vectors(sample, d, seed, mean=mid, noise=noise)
        sims = v[: len(v) // 2] @ v[len(v) // 2 :].T
        lo, hi = (mid, hi) if (sims >= threshold).mean() < pass_rate else (lo, mid)
    return (lo + hi) / 2


def _rss_mib(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def measure(fn: Callable[[], Any], repeat: int = 1) -> tuple[Any, float, float]:
    """``(result, best seconds, peak MiB)``: min time of ``repeat`` runs; the peak resident memory
    the first run added above the resident memory before it (Linux: the high-water mark is reset
    through ``/proc/self/clear_refs``, so C/C++ allocations such as hnswlib's count too)."""
    _note(f"running {getattr(fn, '__name__', 'method')}")
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    base = _rss_mib("VmRSS")
    t0 = time.perf_counter()
    result = fn()
    best = time.perf_counter() - t0
    peak = _rss_mib("VmHWM") - base
    for _ in range(repeat - 1):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return result, best, peak


def run(args: argparse.Namespace) -> dict[str, Any]:
    pop = simulate(args.users, args.seed, today=DAY, bank=False)
    frame = pop.frame
    mean = calibrate_mean(pop.traits, args.d, args.seed, args.threshold, args.pass_rate, args.noise)
    vecs = synthetic_vectors(pop.traits, args.d, args.seed, mean=mean, noise=args.noise)
    rules = build_rules(frame, day=DAY)
    active = np.flatnonzero(rules.active)
    m = active.size
    rng = np.random.default_rng(args.seed + 3)
    sample = np.sort(rng.choice(active, min(args.naive_sample, m), replace=False))
    rows: list[dict[str, Any]] = []

    exact, t_exact, mem_exact = measure(
        lambda: exact_candidates(frame, vecs, rules, k=args.k, threshold=args.threshold, workers=args.workers),
        args.repeat)

    def naive() -> Candidates:
        r, c, s = dense_survivors(frame, vecs, rules, threshold=args.threshold, k=args.k, rows=sample,
                                  chunk_rows=256)
        return to_candidates(len(frame), args.k, r, c, s)

    brute, t_naive_sample, mem_naive = measure(naive)
    t_naive = t_naive_sample * m / sample.size
    identical = bool(np.array_equal(exact.idx[sample], brute.idx[sample])
                     and np.array_equal(exact.sims[sample], brute.sims[sample], equal_nan=True))
    recall_exact = recall_at_k(exact, brute, rows=sample)
    rows.append(_row("exact (blocked)", t_exact, m, recall_exact, mem_exact, t_exact))
    rows.append(_row(f"naive dense+mask (sample {sample.size}, extrapolated)", t_naive, m, 1.0, mem_naive, t_exact))
    part = HnswIndex(group_rows=args.group_rows, min_hnsw=args.min_hnsw)
    approx, t_part, mem_part = measure(
        lambda: approx_candidates(frame, vecs, rules, k=args.k, threshold=args.threshold, index=part))
    rows.append(_row(f"approx: partitioned hnswlib ({part.stats['graphs']} graphs, {part.stats['products']} products,"
                     f" {part.stats['refined']} rows refined)", t_part, m, recall_at_k(approx, exact), mem_part,
                     t_exact))
    if not args.skip_hnsw:
        fixed = HnswIndex(m=16, ef_construction=100, ef=100, overfetch=4, max_fetch=4 * args.k,
                          partitioned=False)
        approx, t_hnsw, mem_hnsw = measure(
            lambda: fixed.generate(frame, vecs, rules, k=args.k, threshold=args.threshold))
        rows.append(_row(f"hnswlib then filter, fetch {4 * args.k} (M=16, ef=100)", t_hnsw, m,
                         recall_at_k(approx, exact), mem_hnsw, t_exact))
        if args.hnsw_max_fetch > 4 * args.k:
            adaptive = HnswIndex(m=16, ef_construction=100, ef=100, overfetch=4, max_fetch=args.hnsw_max_fetch,
                                 partitioned=False)
            approx, t_ad, mem_ad = measure(
                lambda: adaptive.generate(frame, vecs, rules, k=args.k, threshold=args.threshold))
            rows.append(_row(f"hnswlib then filter, adaptive fetch <= {args.hnsw_max_fetch}", t_ad, m,
                             recall_at_k(approx, exact), mem_ad, t_exact))
        raw = HnswIndex(m=16, ef_construction=100, ef=100)
        _, t_raw, mem_raw = measure(lambda: raw.build(vecs[active], active).query(vecs[active], args.k))
        rows.append(_row("hnswlib raw build+query, no prefilter", t_raw, m, float("nan"), mem_raw, t_exact))
    counts = exact.counts()[active]
    return {
        "users": args.users, "active": int(m), "k": args.k, "d": args.d, "threshold": args.threshold,
        "pass_rate_random_pairs": args.pass_rate,
        "exact_equals_brute_force_on_sample": identical,
        "candidate_pairs": int(exact.pairs()[0].size),
        "mean_candidates_per_active_user": round(float(counts.mean()), 2),
        "users_with_k_candidates": round(float((counts == args.k).mean()), 4),
        "methods": rows,
    }


def _row(name: str, seconds: float, m: int, recall: float, mem: float, exact_s: float) -> dict[str, Any]:
    return {"method": name, "seconds": round(seconds, 3), "pairs_per_s": float(f"{m * m / seconds:.4g}"),
            "recall": None if np.isnan(recall) else round(recall, 4), "peak_mib": round(mem, 1),
            "x_exact_time": round(seconds / exact_s, 2)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--k", type=int, default=50)
    p.add_argument("--d", type=int, default=64)
    p.add_argument("--threshold", type=float, default=0.65)
    p.add_argument("--pass-rate", type=float, default=0.05, help="share of random pairs above the threshold")
    p.add_argument("--noise", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--naive-sample", type=int, default=1000)
    p.add_argument("--hnsw-max-fetch", type=int, default=3200,
                   help="adaptive over-fetch limit per user (0 = skip the adaptive run)")
    p.add_argument("--skip-hnsw", action="store_true", help="skip the unpartitioned hnswlib baselines")
    p.add_argument("--group-rows", type=int, default=8192, help="approximate mode: users per graph group")
    p.add_argument("--min-hnsw", type=int, default=4096, help="approximate mode: smaller groups use products")
    p.add_argument("--workers", type=int, default=2,
                   help="exact mode: threads over units of work (hnswlib uses 2 threads as well)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    head = {k: v for k, v in out.items() if k != "methods"}
    print(" ".join(f"{k}={v}" for k, v in head.items()))
    print(f"{'method':<80} {'seconds':>9} {'pairs/s':>10} {'recall':>7} {'peak MiB':>9} {'x exact':>8}")
    for r in out["methods"]:
        rec = "-" if r["recall"] is None else f"{r['recall']:.4f}"
        print(f"{r['method']:<80} {r['seconds']:>9.3f} {r['pairs_per_s']:>10.3g} {rec:>7} {r['peak_mib']:>9.1f}"
              f" {r['x_exact_time']:>8.2f}")


if __name__ == "__main__":
    main()
