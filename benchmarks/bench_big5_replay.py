"""Replay real Big Five respondents through the engine: items needed per trait, most-informative vs fixed vs random.

    python benchmarks/bench_big5_replay.py --respondents 2000 --epsilon 0.3 [--data PATH] [--json]

Data: the Open-Source Psychometrics Project "BIG5" answers (50 IPIP items, 1-5) in
``../shared/data/personality/big5_openpsychometrics_shared.tsv.gz`` (read in place, never copied;
``--data`` or ``$PERFECTMATCH_DATA_DIR`` point elsewhere). Rows with a missed item (0) are dropped.
Keying follows ``shared/data/README.md`` (reverse: E2 E4 E6 E8 E10, N2 N4, A1 A3 A5 A7,
C2 C4 C6 C8, O2 O4 O6).

Method
------
1. Split by ``row_id``: even rows calibrate, odd rows are replayed.
2. Full-scale score per trait = mean of the keyed items, standardised with the calibration mean
   and sd (``z``). This is the target the engine must approach.
3. Each item is calibrated on the calibration rows as the engine's model expects: response
   ``y = (x - 3) / 2`` regressed on its trait's ``z`` gives the loading (signed), intercept and
   residual variance (noise).
4. The items form a one-block bank; the five traits occupy the five dimension slots
   (E→CS, N→EI, A→RC, C→LC, O→CV: slots only, the meaning is the Big Five's).
5. Each replayed respondent answers, in the order the strategy asks, with their recorded answers.
   After each answer the posterior mean of every trait is compared with the respondent's ``z``.

Printed per strategy: for each trait, the mean number of that trait's items answered before the
estimate is within ``epsilon`` (in sd of the full-scale score) and stays there (10 when it never
gets there), the share of respondents that get there, the total number of questions after which
all five traits are within epsilon, and the mean absolute error after all 50 items.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
from pathlib import Path

import numpy as np

from perfectmatch.questionnaire import Bank, parse_bank
from perfectmatch.questionnaire.session import Session

TRAITS = ("E", "N", "A", "C", "O")
SLOT = {"E": "CS", "N": "EI", "A": "RC", "C": "LC", "O": "CV"}
REVERSED = {
    "E2",
    "E4",
    "E6",
    "E8",
    "E10",
    "N2",
    "N4",
    "A1",
    "A3",
    "A5",
    "A7",
    "C2",
    "C4",
    "C6",
    "C8",
    "O2",
    "O4",
    "O6",
}
ITEMS = [f"{t}{k}" for k in range(1, 11) for t in TRAITS]  # presentation order E1 N1 A1 C1 O1 E2 ...
FILE = "big5_openpsychometrics_shared.tsv.gz"
CODEBOOK = "big5_openpsychometrics_codebook.txt"


def data_dir() -> Path:
    env = os.environ.get("PERFECTMATCH_DATA_DIR")
    if env:
        return Path(env) / "personality"
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "personality"


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(row_ids (n,), answers (n, 50) in ``ITEMS`` order) for rows without missed items."""
    ids, rows = [], []
    with gzip.open(path, "rt", newline="") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            vals = [int(rec[i]) for i in ITEMS]
            if all(1 <= v <= 5 for v in vals):
                ids.append(int(rec["row_id"]))
                rows.append(vals)
    return np.array(ids), np.array(rows, dtype=float)


def wording(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[0] in ITEMS:
            out[parts[0]] = parts[1].strip()
    return out


def full_scale(x: np.ndarray) -> np.ndarray:
    """(n, 5) keyed mean per trait."""
    keyed = np.where([i in REVERSED for i in ITEMS], 6 - x, x)
    return np.stack(
        [keyed[:, [j for j, i in enumerate(ITEMS) if i[0] == t]].mean(axis=1) for t in TRAITS], axis=1
    )


def calibrate(x: np.ndarray, z: np.ndarray, text: dict[str, str]) -> Bank:
    """A one-block bank whose item parameters are fitted on the calibration rows."""
    y = (x - 3.0) / 2.0
    qs = []
    for j, item in enumerate(ITEMS):
        t = TRAITS.index(item[0])
        zt = z[:, t]
        a = float(np.cov(y[:, j], zt)[0, 1] / zt.var(ddof=1))
        b = float(y[:, j].mean() - a * zt.mean())
        noise = float(max(1e-3, np.var(y[:, j] - b - a * zt)))
        qs.append(
            {
                "id": item,
                "text": text.get(item, item),
                "type": "likert",
                "intercept": round(b, 4),
                "noise": round(noise, 4),
                "dimensions": {SLOT[item[0]]: round(a, 4)},
            }
        )
    return parse_bank(
        {
            "version": "big5-replay",
            "minQuestionsPerDimension": 1,
            "blocks": [{"id": "ipip50", "questions": qs}],
        }
    )


def replay(bank: Bank, x: np.ndarray, z: np.ndarray, strategy: str, eps: float, seed: int) -> dict:
    dim_order = ["RC", "CS", "EI", "LC", "CV"]  # order of Session.scores()
    to_dim = [dim_order.index(SLOT[t]) for t in TRAITS]
    item_col = {item: j for j, item in enumerate(ITEMS)}
    n = len(x)
    items_needed = np.full((n, 5), 10.0)
    reached = np.zeros((n, 5), dtype=bool)
    total_needed = np.full(n, len(ITEMS), dtype=float)
    end_err = np.zeros((n, 5))
    for r in range(n):
        s = Session(bank, strategy=strategy, seed=seed + r)
        errs, traits = [], []
        while (q := s.next_question()) is not None:
            s.answer(q.id, int(x[r, item_col[q.id]]))
            means = [sc.mean for sc in s.scores().values()]
            errs.append([abs(means[to_dim[t]] - z[r, t]) for t in range(5)])
            traits.append(TRAITS.index(q.id[0]))
        e = np.array(errs)  # (50, 5)
        ok = e <= eps
        stays = np.flip(
            np.logical_and.accumulate(np.flip(ok, axis=0), axis=0), axis=0
        )  # within eps from here on
        tr = np.array(traits)
        for t in range(5):
            if stays[-1, t]:
                first = int(np.argmax(stays[:, t]))
                items_needed[r, t] = int(np.sum(tr[: first + 1] == t))
                reached[r, t] = True
        all_ok = stays.all(axis=1)
        if all_ok[-1]:
            total_needed[r] = int(np.argmax(all_ok)) + 1
        end_err[r] = e[-1]
    return {
        "strategy": strategy,
        "items_per_trait": {t: round(float(items_needed[:, i].mean()), 2) for i, t in enumerate(TRAITS)},
        "reached_share": {t: round(float(reached[:, i].mean()), 3) for i, t in enumerate(TRAITS)},
        "questions_for_all_traits": round(float(total_needed.mean()), 2),
        "all_traits_reached_share": round(float(reached.all(axis=1).mean()), 3),
        "mean_abs_error_after_50": {t: round(float(end_err[:, i].mean()), 3) for i, t in enumerate(TRAITS)},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--respondents", type=int, default=2000, help="replayed respondents (odd row_ids)")
    ap.add_argument("--epsilon", type=float, default=0.3, help="allowed error, sd of the full-scale score")
    ap.add_argument("--data", type=Path, default=None, help=f"path of {FILE}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    path = args.data or data_dir() / FILE
    ids, x = load(path)
    raw = full_scale(x)
    cal, ev = ids % 2 == 0, ids % 2 == 1
    mu, sd = raw[cal].mean(axis=0), raw[cal].std(axis=0, ddof=1)
    z = (raw - mu) / sd
    bank = calibrate(x[cal], z[cal], wording(path.parent / CODEBOOK))
    xe, ze = x[ev][: args.respondents], z[ev][: args.respondents]
    rows = [replay(bank, xe, ze, s, args.epsilon, args.seed) for s in ("most_informative", "fixed", "random")]
    meta = {"calibration_rows": int(cal.sum()), "replayed": len(xe), "epsilon": args.epsilon}
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}, indent=2))
        return
    print(
        f"calibrated on {meta['calibration_rows']} respondents, replayed {meta['replayed']}, "
        f"epsilon = {args.epsilon} sd of the full-scale score"
    )
    head = (
        ["strategy"]
        + [f"items {t}" for t in TRAITS]
        + ["all-5 q", "all-5 reached"]
        + [f"err50 {t}" for t in TRAITS]
    )
    print(" ".join(f"{h:>16}" for h in head))
    for r in rows:
        cells = [
            r["strategy"],
            *r["items_per_trait"].values(),
            r["questions_for_all_traits"],
            r["all_traits_reached_share"],
            *r["mean_abs_error_after_50"].values(),
        ]
        print(" ".join(f"{c!s:>16}" for c in cells))


if __name__ == "__main__":
    main()
