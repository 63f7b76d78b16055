"""Free versus premium content of a pair analysis (spec: basic = score, top 3 factors, brief summary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from perfectmatch.ports import PairAnalysis

BASIC_FACTORS = 3


def brief_summary(text: str, max_chars: int = 240) -> str:
    """The first sentence of ``text``, at most ``max_chars`` long."""
    text = " ".join(text.split())
    for stop in (". ", "! ", "? "):
        cut = text.find(stop)
        if 0 < cut < max_chars:
            return text[: cut + 1]
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"


def split_content(analysis: PairAnalysis, *, premium: bool) -> dict[str, Any]:
    """What a member may see of ``analysis``.

    Returns
    -------
    dict
        Basic members: ``score``, the top 3 ``factors`` by score and a brief ``summary``. Premium
        members additionally get every factor, ``detailed_analysis``, ``conversation_starters`` and
        ``challenges``. ``source`` is always included.
    """
    factors = sorted(analysis.factors, key=lambda f: f[1], reverse=True)
    as_dicts = [{"name": n, "score": s, "description": d} for n, s, d in factors]
    out: dict[str, Any] = {
        "pair_id": analysis.pair_id,
        "score": analysis.score,
        "source": analysis.source,
        "summary": analysis.summary or brief_summary(analysis.detailed_analysis),
        "factors": as_dicts[:BASIC_FACTORS],
        "premium": premium,
    }
    if premium:
        out["factors"] = as_dicts
        out["detailed_analysis"] = analysis.detailed_analysis
        out["conversation_starters"] = list(analysis.conversation_starters)
        out["challenges"] = list(analysis.challenges)
    return out


#: Key of a compact stored fallback insight: the inputs of ``LocalAnalyzer`` instead of its output.
COMPACT = "fallback_inputs"
#: Compact inputs are integers in units of 1/SCALE: a ``PairContext`` holds them rounded to 4 places.
SCALE = 10_000


def compact_fallbacks(vector_score: np.ndarray, similarities: Mapping[str, np.ndarray]) -> list[str]:
    """The stored ``basic`` content (JSON text) of the fallback insights the daily batch writes for
    vector-only matches: ``LocalAnalyzer``'s inputs instead of its rendered text (~130 bytes instead
    of ~1.7 kB per delivered match); :func:`stored_content` renders them on read.

    Parameters
    ----------
    vector_score
        ``(m,)`` float32 vector scores of the pairs.
    similarities
        ``{block: (m,) float32}`` block similarities; ``nan`` (an empty block) is left out, as the
        batch's ``PairContext`` leaves it out.

    Each value is stored as ``rint(x * SCALE)``: for float32 inputs this is exactly Python's
    ``round(x, 4) * SCALE`` (no float32 lies within float64 rounding error of a midpoint), so the
    render on read sees the very numbers an eager ``PairContext`` would hold.
    """
    names = list(similarities)
    m = np.asarray(vector_score).shape[0]
    table = (np.stack([np.asarray(similarities[n], dtype=np.float64) for n in names], axis=1) if names
             else np.zeros((m, 0)))
    known = ~np.isnan(table)
    ints = np.rint(np.where(known, table, 0.0) * SCALE).astype(np.int64).tolist()
    scores = np.rint(np.asarray(vector_score, dtype=np.float64) * SCALE).astype(np.int64).tolist()
    whole = known.all(axis=1).tolist()
    keys = [f'"{n}":' for n in names]
    head = f'{{"{COMPACT}":{{"vector_score":'
    out = []
    for i, (v, row) in enumerate(zip(scores, ints, strict=True)):
        pairs = zip(keys, row, strict=True) if whole[i] else (
            (k, x) for k, x, ok in zip(keys, row, known[i].tolist(), strict=True) if ok)
        out.append(f'{head}{v},"similarities":{{{",".join([k + str(x) for k, x in pairs])}}}}}}}')
    return out


def stored_content(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(basic, premium)`` content of a stored insight row, rendering a compact fallback row with
    ``LocalAnalyzer`` exactly as the batch would have (the same numbers, see :func:`compact_fallbacks`)."""
    basic = row["basic"]
    if COMPACT not in basic:
        return basic, row["premium"]
    from perfectmatch.ai.fallback import LocalAnalyzer
    from perfectmatch.ports import PairContext

    inputs = basic[COMPACT]
    pair = PairContext(pair_id=row["id"], user_a=row["user_a"], user_b=row["user_b"], data_a={}, data_b={},
                       similarities={k: v / SCALE for k, v in inputs["similarities"].items()},
                       vector_score=inputs["vector_score"] / SCALE)
    analysis = LocalAnalyzer().analyze_one(pair)
    return split_content(analysis, premium=False), split_content(analysis, premium=True)
