"""Compatibility scores of candidate pairs: reciprocal, importance-weighted, explainable.

For a pair ``(a, b)`` and per-dimension similarities ``sim_d`` in ``[0, 1]``:

1. **Directional scores.** How well ``b`` suits ``a`` is the mean of the dimension similarities
   weighted by *``a``'s* importance ratings, ``s_ab = sum_d w_ad sim_d / sum_d w_ad``; ``s_ba`` uses
   ``b``'s ratings. An optional text-block similarity (open answers) enters both with a fixed
   weight, since nobody rates the importance of free text.
   **Stated-preference fit (optional).** Similarity is a proxy for preference; where a user has
   said what they want *in a partner*, how well the partner meets it is measured directly
   (``age_fit``: the partner's age against the user's accepted range; ``preference_fit``: the
   user's wanted traits against the partner's own levels of them). Each such fit term is one more
   item of the user's weighted mean, weighted like a dimension of that user's average importance.
   These terms are directional by nature ("what I want" against "what you are"), which the
   symmetric block similarities cannot express; this is the preference side of reciprocal
   recommenders (Pizzato et al., RECON, 2010). Without fit terms the score is the similarity score
   unchanged; the daily batch does not pass any yet, the speed-dating evaluation does (match ROC
   AUC 0.552 -> 0.576 on real dates, ``evaluation.speed_dating``).
2. **Reciprocal combination: the harmonic mean** ``2 s_ab s_ba / (s_ab + s_ba)``. A match must suit
   both sides, so the combined score must be dominated by the weaker direction: the harmonic mean
   is always <= the geometric mean <= the arithmetic mean, and falls to 0 when either side's score
   does (0.9 and 0.5 give 0.64 rather than 0.70 arithmetic). It is the aggregation used in
   reciprocal recommenders (Pizzato et al., RECON, 2010).
3. **Completeness.** Each user has a factor in ``[0.8, 1.0]`` (profile completeness); a pair uses
   the *smaller* one, because a score is only as well-founded as the sparser of the two profiles.
4. **Final score (0-100).** With an AI raw score ``ai``: ``c * (w_ai * ai + (1 - w_ai) * 100 * v)``,
   where ``v`` is the reciprocal vector score, so the AI opinion is weighted by both users'
   importance ratings through ``v``; the source is the AI's (``llm``, ``cache`` or ``fallback``).
   Without one (``nan``): ``c * 100 * v``, source ``vector``.

Everything is deterministic; :func:`explain` lists the factors of one pair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.models import Dimension, ScoreSource

DIMENSIONS: tuple[Dimension, ...] = tuple(Dimension)
AI_WEIGHT = 0.7
TEXT_WEIGHT = 0.2


def block_similarities(
    vecs_a: np.ndarray, vecs_b: np.ndarray, slices: Mapping[Dimension, slice]
) -> dict[str, np.ndarray]:
    """Per-dimension similarity ``(1 + cos) / 2`` of row pairs over each slice of the vectors.

    Parameters
    ----------
    vecs_a, vecs_b
        ``(m, d)`` vectors of the two sides.
    slices
        Where each dimension lives in the vector (``FeatureLayout`` slices or any mapping).

    Returns
    -------
    dict
        ``{dimension value: (m,) float64 in [0, 1]}``; ``nan`` where the block is zero on either side
        (unknown: the scores below leave it out).
    """
    out: dict[str, np.ndarray] = {}
    for dim, sl in slices.items():
        a = np.asarray(vecs_a[:, sl], dtype=np.float64)
        b = np.asarray(vecs_b[:, sl], dtype=np.float64)
        norm = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        dot = (a * b).sum(axis=1)
        cos = np.divide(dot, norm, out=np.full_like(dot, np.nan), where=norm > 0)
        out[Dimension(dim).value] = (1.0 + np.clip(cos, -1.0, 1.0)) / 2.0
    return out


def _stack(dims: Mapping[str, np.ndarray]) -> np.ndarray:
    missing = [d.value for d in DIMENSIONS if d.value not in dims]
    if missing:
        raise InvalidInputError(f"dimension similarities are missing {missing}")
    return np.stack([np.asarray(dims[d.value], dtype=np.float64) for d in DIMENSIONS], axis=1)


def age_fit(age_other: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(m,)`` how well the partner's age suits the user's accepted range ``[low, high]``, in ``[0, 1]``.

    1 at the middle of the range, falling linearly to 0 at its edges (and 0 beyond: the prefilter
    normally removes those); ``nan`` where an age or the range is unknown. A range of a single year
    gives 1 at that age and 0 elsewhere.
    """
    age_other, low, high = (np.asarray(v, dtype=np.float64) for v in (age_other, low, high))
    centre, half = (low + high) / 2.0, (high - low) / 2.0
    with np.errstate(invalid="ignore", divide="ignore"):
        fit = np.where(half > 0, 1.0 - np.abs(age_other - centre) / np.where(half > 0, half, 1.0),
                       (age_other == centre).astype(np.float64))
    return np.where(np.isnan(fit), np.nan, np.clip(fit, 0.0, 1.0))


def preference_fit(wants: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``(m,)`` how well the partner's own levels meet what the user wants: "what I want" against "what you are".

    ``wants`` ``(m, k)`` are the user's non-negative weights of ``k`` traits (any scale: only ratios
    matter), ``levels`` ``(m, k)`` the partner's level of each trait in ``[0, 1]``. The result is
    the want-weighted mean of the levels over the traits whose level and weight are known; ``nan``
    when none is (or the weights are all 0).
    """
    wants = np.asarray(wants, dtype=np.float64)
    levels = np.asarray(levels, dtype=np.float64)
    if wants.shape != levels.shape or wants.ndim != 2:
        raise InvalidInputError(f"wants {wants.shape} and levels {levels.shape} must be matching (m, k) arrays")
    known = ~np.isnan(wants) & ~np.isnan(levels)
    w = np.where(known, np.clip(np.nan_to_num(wants), 0.0, None), 0.0)
    total = w.sum(axis=1)
    return np.divide((w * np.where(known, np.clip(levels, 0.0, 1.0), 0.0)).sum(axis=1), total,
                     out=np.full(total.shape, np.nan), where=total > 0)


def directional_scores(sims: np.ndarray, importance: np.ndarray, text: np.ndarray | None = None,
                       text_weight: float = TEXT_WEIGHT, fit: np.ndarray | None = None) -> np.ndarray:
    """``(m,)`` how well the partner suits the user whose ``importance`` ``(m, 5)`` is given.

    Unknown similarities (``nan``: a block one side left empty) are left out and the weights of the
    known ones renormalised, so a score is measured on what both profiles say; ``nan`` when nothing
    is known (neither a dimension, a fit term nor the text). ``fit`` ``(m, j)`` are optional
    stated-preference fit terms in ``[0, 1]`` of this user (``age_fit``, ``preference_fit``; ``nan``
    = unknown, left out), each weighted by the user's mean importance over the five dimensions.
    """
    sims = np.asarray(sims, dtype=np.float64)
    known = ~np.isnan(sims)
    imp = np.clip(np.asarray(importance, dtype=np.float64), 1e-6, None)
    w = np.where(known, imp, 0.0)
    total = w.sum(axis=1)
    weighted = (w * np.where(known, sims, 0.0)).sum(axis=1)
    if fit is not None:
        fit = np.asarray(fit, dtype=np.float64).reshape(sims.shape[0], -1)
        fit_known = ~np.isnan(fit)
        fw = np.where(fit_known, imp.mean(axis=1, keepdims=True), 0.0)
        total = total + fw.sum(axis=1)
        weighted = weighted + (fw * np.where(fit_known, fit, 0.0)).sum(axis=1)
    score = np.divide(weighted, total, out=np.full(total.shape, np.nan), where=total > 0)
    if text is not None:
        t = np.asarray(text, dtype=np.float64)
        both = ~np.isnan(score) & ~np.isnan(t)
        score = np.where(both, (1.0 - text_weight) * score + text_weight * t, np.where(np.isnan(score), t, score))
    return score


def harmonic(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elementwise harmonic mean, 0 where both are 0."""
    total = x + y
    return np.divide(2.0 * x * y, total, out=np.zeros_like(total), where=total > 0)


def reciprocal_scores(
    dims: Mapping[str, np.ndarray],
    importance_a: np.ndarray,
    importance_b: np.ndarray,
    *,
    text: np.ndarray | None = None,
    text_weight: float = TEXT_WEIGHT,
    fit_a: np.ndarray | None = None,
    fit_b: np.ndarray | None = None,
) -> np.ndarray:
    """Reciprocal vector score in ``[0, 1]`` of ``m`` pairs (module docstring, steps 1-2).

    Parameters
    ----------
    dims
        ``{dimension value: (m,) similarity in [0, 1]}`` for every ``Dimension``.
    importance_a, importance_b
        ``(m, 5)`` importance of each dimension to each side, columns in ``Dimension`` order (any
        positive scale: only ratios matter).
    text
        Optional ``(m,)`` similarity of the open-answer embeddings.
    text_weight
        Share of the text similarity in each directional score.
    fit_a, fit_b
        Optional ``(m, j)`` stated-preference fit terms (``age_fit``, ``preference_fit``): ``fit_a``
        how well ``b`` meets what ``a`` asked for, ``fit_b`` the other way round.
    """
    sims = _stack(dims)
    s_ab = directional_scores(sims, importance_a, text, text_weight, fit_a)
    s_ba = directional_scores(sims, importance_b, text, text_weight, fit_b)
    return np.nan_to_num(np.clip(harmonic(s_ab, s_ba), 0.0, 1.0), nan=0.0)  # nothing known: no evidence


def final_values(
    vector: np.ndarray, ai: np.ndarray, completeness_a: np.ndarray, completeness_b: np.ndarray, *,
    ai_weight: float = AI_WEIGHT,
) -> np.ndarray:
    """The final scores of :func:`final_scores` without their sources (an object array of which costs
    seconds at the daily batch's 25 M candidate pairs, when only the delivered ones need it)."""
    vector = np.asarray(vector, dtype=np.float64)
    ai = np.asarray(ai, dtype=np.float64)
    if ai.shape != vector.shape:
        raise InvalidInputError(f"ai scores have shape {ai.shape}, vector scores {vector.shape}")
    factor = np.clip(np.minimum(completeness_a, completeness_b), 0.8, 1.0)
    has_ai = ~np.isnan(ai)
    blended = np.where(has_ai, ai_weight * np.nan_to_num(ai) + (1.0 - ai_weight) * 100.0 * vector, 100.0 * vector)
    return np.clip(factor * blended, 0.0, 100.0)


def final_scores(
    vector: np.ndarray,
    ai: np.ndarray,
    completeness_a: np.ndarray,
    completeness_b: np.ndarray,
    ai_source: Sequence[str | None] | None = None,
    *,
    ai_weight: float = AI_WEIGHT,
) -> tuple[np.ndarray, np.ndarray]:
    """Final 0-100 scores and their sources (module docstring, steps 3-4).

    Parameters
    ----------
    vector
        ``(m,)`` reciprocal vector scores in ``[0, 1]``.
    ai
        ``(m,)`` AI raw scores 0-100, ``nan`` where no analysis exists.
    completeness_a, completeness_b
        ``(m,)`` completeness factors 0.8-1.0 of both sides.
    ai_source
        Per pair the AI result's source (``"llm"``, ``"cache"``, ``"fallback"``); default ``"llm"``.
    ai_weight
        Weight of the AI score against the vector score.

    Returns
    -------
    (final, source)
        ``(m,)`` float64 in ``[0, 100]`` and ``(m,)`` object array of ``ScoreSource`` values.
    """
    final = final_values(vector, ai, completeness_a, completeness_b, ai_weight=ai_weight)
    return final, score_sources(ai, ai_source)


def score_sources(ai: np.ndarray, ai_source: Sequence[str | None] | None = None) -> np.ndarray:
    """The sources :func:`final_scores` gives its scores: ``vector`` where ``ai`` is ``nan``, else the
    AI result's ``ai_source`` (default ``llm``), as an ``(m,)`` object array of ``ScoreSource`` values."""
    has_ai = ~np.isnan(np.asarray(ai, dtype=np.float64))
    src = np.full(has_ai.shape, ScoreSource.VECTOR.value, dtype=object)
    if ai_source is None:
        src[has_ai] = ScoreSource.LLM.value
    else:
        idx = np.flatnonzero(has_ai)  # only the analysed pairs: a batch has millions of vector-only ones
        src[idx] = [ScoreSource(ai_source[i] or ScoreSource.LLM).value for i in idx.tolist()]
    return src


@dataclass(frozen=True)
class Factor:
    """One named ingredient of a score: its value and how much it contributed to the final score."""

    name: str
    value: float
    weight: float
    contribution: float


@dataclass(frozen=True)
class ScoreExplanation:
    """Why a pair got its score: every factor, the directional and reciprocal scores, the source."""

    final: float
    source: ScoreSource
    vector: float
    a_to_b: float
    b_to_a: float
    completeness: float
    ai: float | None
    factors: tuple[Factor, ...]

    def top(self, n: int = 3) -> tuple[Factor, ...]:
        """The ``n`` dimension factors that added most to the score."""
        dims = [f for f in self.factors if f.name in {d.value for d in DIMENSIONS} | {"TEXT"}]
        return tuple(sorted(dims, key=lambda f: (-f.contribution, f.name))[:n])


def explain(
    dims: Mapping[str, float],
    importance_a: Sequence[float],
    importance_b: Sequence[float],
    *,
    completeness_a: float,
    completeness_b: float,
    text: float | None = None,
    ai: float | None = None,
    ai_source: str | None = None,
    text_weight: float = TEXT_WEIGHT,
    ai_weight: float = AI_WEIGHT,
    fit_a: Sequence[float] | None = None,
    fit_b: Sequence[float] | None = None,
) -> ScoreExplanation:
    """Score one pair exactly as the vectorised functions do and list its factors.

    A dimension's weight is the mean of both sides' normalised importance; its contribution is the
    share of the final score it accounts for (weight x similarity x the rest of the formula). Fit
    terms (``fit_a``: what ``a`` asked for, ``fit_b``: what ``b`` did) count in one direction only,
    so their weight is half their share in that direction; they are named ``FIT_A0``, ``FIT_B0``, ...
    """
    arr = {k: np.array([float(v)]) for k, v in dims.items()}
    ia = np.array([importance_a], dtype=np.float64)
    ib = np.array([importance_b], dtype=np.float64)
    fa = None if fit_a is None else np.array([fit_a], dtype=np.float64)
    fb = None if fit_b is None else np.array([fit_b], dtype=np.float64)
    tx = None if text is None else np.array([float(text)])
    sims = _stack(arr)
    s_ab = float(directional_scores(sims, ia, tx, text_weight, fa)[0])
    s_ba = float(directional_scores(sims, ib, tx, text_weight, fb)[0])
    vector = float(reciprocal_scores(arr, ia, ib, text=tx, text_weight=text_weight, fit_a=fa, fit_b=fb)[0])
    final, src = final_scores(np.array([vector]), np.array([np.nan if ai is None else ai]),
                              np.array([completeness_a]), np.array([completeness_b]), [ai_source],
                              ai_weight=ai_weight)
    c = float(np.clip(min(completeness_a, completeness_b), 0.8, 1.0))
    share = (1.0 - ai_weight) if ai is not None else 1.0
    known = ~np.isnan(sims[0])
    text_known = text is not None and not np.isnan(text)

    def weights(importance: np.ndarray, fit: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        imp = np.clip(importance, 1e-6, None)  # over the known dimensions and fit terms, as scored
        w = np.where(known, imp, 0.0)
        f = np.zeros(0) if fit is None else np.where(np.isnan(fit[0]), 0.0, imp.mean())
        total = w.sum() + f.sum()
        return (w / total, f / total) if total > 0 else (w, f)

    (wa, fwa), (wb, fwb) = weights(ia[0], fa), weights(ib[0], fb)
    structured = known.any() or fwa.any() or fwb.any()
    text_share = (text_weight if structured else 1.0) if text_known else 0.0
    dim_share = 1.0 - text_share
    factors = []
    for k, d in enumerate(DIMENSIONS):
        w = float((wa[k] + wb[k]) / 2) * dim_share
        sim = float(sims[0, k])
        factors.append(Factor(d.value, sim, w, c * share * 100.0 * w * sim if known[k] else 0.0))
    for side, fit, fw in (("A", fa, fwa), ("B", fb, fwb)):
        for j, wj in enumerate(fw.tolist()):
            v, w = float(fit[0, j]), wj / 2 * dim_share  # type: ignore[index]
            factors.append(Factor(f"FIT_{side}{j}", v, w, c * share * 100.0 * w * v if wj > 0 else 0.0))
    if text_known:
        factors.append(Factor("TEXT", float(text), text_share, c * share * 100.0 * text_share * float(text)))
    if ai is not None:
        factors.append(Factor("AI", float(ai), ai_weight, c * ai_weight * float(ai)))
    factors.append(Factor("completeness", c, 1.0, 0.0))
    return ScoreExplanation(
        final=float(final[0]), source=ScoreSource(src[0]), vector=vector, a_to_b=s_ab, b_to_a=s_ba,
        completeness=c, ai=ai, factors=tuple(factors),
    )
