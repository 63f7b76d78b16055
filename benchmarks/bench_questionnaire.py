"""Questionnaire engine: most-informative vs fixed vs random order on simulated respondents, and time per step.

    python benchmarks/bench_questionnaire.py --respondents 300 [--target-sd 0.45] [--encode-users 1000000] [--json]

Three parts, each printed as rows per bank and strategy:

1. **Accuracy curve** (respondents without fatigue answer the whole path): the RMSE of the
   posterior means against the respondents' true scores (in prior standard deviations, all five
   dimensions pooled) after each answer; ``q@0.6`` / ``q@0.5`` / ``q@0.4`` is the number of
   questions after which the mean RMSE first reaches that level (``-`` = never).
2. **Stopping at a target precision** (``--target-sd``): questions are skipped once their
   dimensions' posterior sd reaches the target; reports questions asked and the RMSE reached.
3. **Time per step** (present the next question + record the answer) on a 200-question bank,
   min of 5 repeats, and the cost of computing progress on demand.
4. Optionally (``--encode-users N``) the time ``FeatureLayout.encode_matrix`` takes for N users.

Banks: ``default`` (the shipped bank: blocks constrain the order, so selection only reorders
within a block) and ``flat200`` (one block of 200 seeded synthetic Likert items, 40 per dimension,
loadings 0.1-0.8 with some cross-loadings: selection is free).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from perfectmatch.questionnaire import Bank, FeatureLayout, QuestionType, default_bank, parse_bank
from perfectmatch.questionnaire.respondents import make_respondents
from perfectmatch.questionnaire.session import Session

STRATEGIES = ("most_informative", "fixed", "random")
DIMS = ("RC", "CS", "EI", "LC", "CV")


def flat_bank(n: int = 200, seed: int = 0) -> Bank:
    """One block of ``n`` Likert items; each loads on one dimension (sometimes a second, weakly)."""
    rng = np.random.default_rng(seed)
    qs = []
    for i in range(n):
        main = DIMS[i % 5]
        dims = {main: round(float(rng.uniform(0.1, 0.8)) * float(rng.choice([-1, 1])), 3)}
        if rng.random() < 0.2:
            other = DIMS[(i + 1 + int(rng.integers(4))) % 5]
            dims[other] = round(float(rng.uniform(0.05, 0.25)), 3)
        qs.append(
            {
                "id": f"s{i:03d}",
                "text": f"Synthetic item {i}",
                "type": "likert",
                "dimensions": dims,
                "noise": 0.2,
            }
        )
    return parse_bank({"version": f"flat{n}", "blocks": [{"id": "all", "questions": qs}]})


def accuracy_curve(bank: Bank, strategy: str, n: int, seed: int) -> np.ndarray:
    """Mean squared error (pooled over dimensions) after k answers, k = 0..max path length."""
    sq: list[list[float]] = []
    for i, r in enumerate(make_respondents(n, seed=seed, fatigue=False)):
        s = Session(bank, strategy=strategy, seed=seed + i)
        errs = [float(np.mean(r.theta**2))]
        while (q := s.next_question()) is not None:
            value, importance, seconds = r.answer(q)
            s.answer(q.id, value, importance=importance, seconds=seconds)
            mean = np.array([sc.mean for sc in s.scores().values()])
            errs.append(float(np.mean((mean - r.theta) ** 2)))
        sq.append(errs)
    longest = max(len(e) for e in sq)
    padded = np.array([e + [e[-1]] * (longest - len(e)) for e in sq])
    return np.sqrt(padded.mean(axis=0))


def first_below(curve: np.ndarray, level: float) -> int | None:
    hits = np.flatnonzero(curve <= level)
    return int(hits[0]) if hits.size else None


def stopping(bank: Bank, strategy: str, n: int, seed: int, target_sd: float) -> tuple[float, float]:
    asked, sq = [], []
    for i, r in enumerate(make_respondents(n, seed=seed + 1, fatigue=False)):
        s = Session(bank, strategy=strategy, seed=seed + i, target_sd=target_sd)
        while (q := s.next_question()) is not None:
            value, importance, seconds = r.answer(q)
            s.answer(q.id, value, importance=importance, seconds=seconds)
        asked.append(len(s.answers))
        mean = np.array([sc.mean for sc in s.scores().values()])
        sq.append(float(np.mean((mean - r.theta) ** 2)))
    return float(np.mean(asked)), float(np.sqrt(np.mean(sq)))


def time_per_step(bank: Bank, strategy: str, repeats: int = 5) -> tuple[float, float]:
    """(ms per present+answer step, ms per progress() call), min over repeats."""
    best_step = best_progress = float("inf")
    for rep in range(repeats):
        r = make_respondents(1, seed=100 + rep, fatigue=False)[0]
        s = Session(bank, strategy=strategy, seed=rep)
        answers = []
        elapsed = 0.0
        while True:
            t0 = time.perf_counter()
            q = s.next_question()
            t1 = time.perf_counter()
            if q is None:
                break
            value, importance, seconds = r.answer(q)
            t2 = time.perf_counter()
            s.answer(q.id, value, importance=importance, seconds=seconds)
            t3 = time.perf_counter()
            elapsed += (t1 - t0) + (t3 - t2)
            answers.append(q.id)
        best_step = min(best_step, 1000 * elapsed / max(1, len(answers)))
        t0 = time.perf_counter()
        probe = Session(bank, strategy=strategy)
        for _ in range(20):
            probe.progress()
        best_progress = min(best_progress, 1000 * (time.perf_counter() - t0) / 20)
    return best_step, best_progress


def encode_seconds(n: int, seed: int = 0) -> tuple[float, int]:
    """Seconds to encode ``n`` random users of the default bank (30 % unanswered), min of 3; and the width."""
    bank = default_bank()
    layout = FeatureLayout.from_bank(bank)
    rng = np.random.default_rng(seed)
    values = np.full((n, len(layout.question_ids)), np.nan)
    for j, qid in enumerate(layout.question_ids):
        q = bank.question(qid)
        if q.type is QuestionType.SINGLE:
            values[:, j] = rng.integers(0, len(q.options), n)
        elif q.type is QuestionType.MULTIPLE:
            values[:, j] = rng.integers(0, 2 ** len(q.options), n)
        else:
            lo, hi = q.bounds
            values[:, j] = rng.integers(int(lo), int(hi) + 1, n)
    values[rng.random(values.shape) < 0.3] = np.nan
    importance = np.where(np.isnan(values), np.nan, rng.integers(1, 11, values.shape))
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        layout.encode_matrix(values, importance)
        best = min(best, time.perf_counter() - t0)
    return best, layout.dim


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--respondents", type=int, default=300)
    ap.add_argument("--target-sd", type=float, default=0.45)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encode-users", type=int, default=0, help="also time FeatureLayout.encode_matrix")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.encode_users:
        seconds, dim = encode_seconds(args.encode_users, args.seed)
        print(
            f"encode_matrix: {args.encode_users} users x {dim} features in {seconds:.2f} s "
            f"({args.encode_users / seconds:,.0f} users/s)"
        )
    banks = {"default": default_bank(), "flat200": flat_bank(200, seed=args.seed)}
    rows = []
    for name, bank in banks.items():
        for strategy in STRATEGIES:
            curve = accuracy_curve(bank, strategy, args.respondents, args.seed)
            asked, rmse_stop = stopping(bank, strategy, args.respondents, args.seed, args.target_sd)
            ms_step, ms_progress = time_per_step(bank, strategy) if name == "flat200" else (None, None)
            rows.append(
                {
                    "bank": name,
                    "strategy": strategy,
                    "path": len(curve) - 1,
                    "q@0.6": first_below(curve, 0.6),
                    "q@0.5": first_below(curve, 0.5),
                    "q@0.4": first_below(curve, 0.4),
                    "rmse@20": round(float(curve[min(20, len(curve) - 1)]), 3),
                    "rmse_end": round(float(curve[-1]), 3),
                    f"asked@sd{args.target_sd}": round(asked, 1),
                    f"rmse@sd{args.target_sd}": round(rmse_stop, 3),
                    "ms_per_step": None if ms_step is None else round(ms_step, 3),
                    "ms_progress": None if ms_progress is None else round(ms_progress, 3),
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    cols = list(rows[0])
    print(" ".join(f"{c:>16}" for c in cols))
    for r in rows:
        print(" ".join(f"{'-' if r[c] is None else r[c]!s:>16}" for c in cols))


if __name__ == "__main__":
    main()
