"""A small synthetic speed-dating CSV in the layout of the real file (for loader, evaluation and CLI tests)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from perfectmatch.evaluation.speed_dating import (
    AFTER_DATE_COLUMNS,
    INTERESTS,
    PRE_DATE_FEATURES,
    PREFERENCES,
    SELF_RATINGS,
)

#: Columns of the synthetic file: keys, the pre-date survey, the organisers' pair columns and every
#: after-date column (filled with values that would give the outcome away if they were read).
HEADER: tuple[str, ...] = (
    "iid",
    "pid",
    "wave",
    "int_corr",
    "samerace",
    "age_o",
    *PRE_DATE_FEATURES,
    *(c for c in AFTER_DATE_COLUMNS if c not in PRE_DATE_FEATURES),
)


def participant(rng: np.random.Generator, gender: int, wave: int) -> dict[str, float]:
    """Random sign-up answers (preferences split 100 points, or rated 1-10 in waves 6-9)."""
    row: dict[str, float] = {
        "gender": gender,
        "age": int(rng.integers(21, 35)),
        "race": int(rng.integers(1, 7)),
        "field_cd": int(rng.integers(1, 19)),
        "goal": int(rng.integers(1, 7)),
        "date": int(rng.integers(1, 8)),
        "go_out": int(rng.integers(1, 8)),
        "imprace": int(rng.integers(1, 11)),
        "imprelig": int(rng.integers(1, 11)),
        "exphappy": int(rng.integers(1, 11)),
    }
    row.update({c: int(rng.integers(1, 11)) for c in INTERESTS})
    row.update({c: int(rng.integers(2, 11)) for c in SELF_RATINGS})
    if wave in (6, 7, 8, 9):
        row.update({c: int(rng.integers(1, 11)) for c in PREFERENCES})
    else:
        split = rng.multinomial(20, np.full(len(PREFERENCES), 1 / len(PREFERENCES))) * 5
        row.update({c: int(v) for c, v in zip(PREFERENCES, split, strict=True)})
    return row


def rows(seed: int = 0, waves: tuple[int, ...] = (1, 2, 7), per_side: int = 4) -> list[dict[str, object]]:
    """Every man meets every woman of his wave; each date appears twice (once per side)."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    iid = 1
    for wave in waves:
        men = [(iid + k, participant(rng, 1, wave)) for k in range(per_side)]
        women = [(iid + per_side + k, participant(rng, 0, wave)) for k in range(per_side)]
        iid += 2 * per_side
        for m_id, m in men:
            for w_id, w in women:
                # decisions depend on going out a lot, so a supervised model has something to find
                dec_m = int(rng.random() < 0.3 + 0.05 * (8 - float(w["go_out"])))
                dec_w = int(rng.random() < 0.2 + 0.05 * (8 - float(m["go_out"])))
                for me_id, me, other_id, dec, dec_o in ((m_id, m, w_id, dec_m, dec_w), (w_id, w, m_id, dec_w, dec_m)):
                    row: dict[str, object] = {c: "" for c in HEADER}
                    row.update(me)
                    row.update(
                        {"iid": me_id, "pid": other_id, "wave": wave, "int_corr": 0.99 if dec and dec_o else -0.99}
                    )
                    for c in AFTER_DATE_COLUMNS:
                        row[c] = 10 if dec else 1  # on-the-night ratings that would leak the outcome
                    row.update({"dec": dec, "dec_o": dec_o, "match": int(dec and dec_o)})
                    out.append(row)
    return out


def write(path: Path, data: list[dict[str, object]], *, gz: bool = False) -> Path:
    """Write ``data`` as CSV (gzip when ``gz``) with the ``HEADER`` columns."""
    lines = [",".join(HEADER)] + [",".join(str(r[c]) for c in HEADER) for r in data]
    text = "\r\n".join(lines) + "\r\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path
