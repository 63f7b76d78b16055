"""Free versus premium content of a pair analysis (spec: basic = score, top 3 factors, brief summary)."""

from __future__ import annotations

import json
from typing import Any

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


def compact_fallback(vector_score: float, similarities: dict[str, float]) -> str:
    """The stored ``basic`` content (as JSON text) of a fallback insight the daily batch wrote for a
    vector-only match: ``LocalAnalyzer``'s inputs (unrounded), ~150 bytes instead of ~1.6 kB of
    rendered text per delivered match; :func:`stored_content` renders it on read, identically to an
    eager render."""
    return json.dumps({COMPACT: {"vector_score": vector_score, "similarities": similarities}}, separators=(",", ":"))


def stored_content(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(basic, premium)`` content of a stored insight row, rendering a compact fallback row with
    ``LocalAnalyzer`` exactly as the batch would have (same rounding of the same numbers)."""
    basic = row["basic"]
    if COMPACT not in basic:
        return basic, row["premium"]
    from perfectmatch.ai.fallback import LocalAnalyzer
    from perfectmatch.ports import PairContext

    inputs = basic[COMPACT]
    pair = PairContext(pair_id=row["id"], user_a=row["user_a"], user_b=row["user_b"], data_a={}, data_b={},
                       similarities={k: round(float(v), 4) for k, v in inputs["similarities"].items()},
                       vector_score=round(float(inputs["vector_score"]), 4))
    analysis = LocalAnalyzer().analyze_one(pair)
    return split_content(analysis, premium=False), split_content(analysis, premium=True)
