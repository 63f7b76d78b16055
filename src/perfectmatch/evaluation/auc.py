"""ROC AUC with bootstrap confidence intervals for dyadic data, and reciprocal precision@k.

Pairs are not independent: every date involves two people who each had many dates, so a person's
pickiness or popularity moves all of their pairs together. Resampling pairs as if independent gives
intervals that are far too narrow. We use the two-way ("pigeonhole") bootstrap of Owen (2007,
*Annals of Applied Statistics* 1(2)): within each wave, men and women are resampled independently
with replacement, and a pair (man, woman) enters a resample with weight ``count(man) * count(woman)``.
Resampling within waves keeps every wave's size and lets per-wave intervals use the same draws;
clustering on whole waves instead would leave only 14 clusters, too few for a percentile interval.

The AUC of weighted pairs is the Mann-Whitney statistic with weights (ties count one half); for
``B`` resamples it is computed at once from one sort of the scores, so 1,000 resamples of a few
thousand pairs take milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfectmatch.errors import InvalidInputError


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a percentile bootstrap interval (``nan`` where undefined)."""

    value: float
    lo: float
    hi: float

    def __str__(self) -> str:
        if np.isnan(self.value):
            return "n/a"
        if np.isnan(self.lo):  # no resamples
            return f"{self.value:.3f}"
        return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}]"


def weighted_auc(score: np.ndarray, label: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """ROC AUC of ``score`` for binary ``label`` under one or many weightings of the items.

    Parameters
    ----------
    score, label
        ``(m,)`` scores and 0/1 labels.
    weights
        ``(m,)`` or ``(B, m)`` non-negative item weights (``None``: all 1).

    Returns
    -------
    np.ndarray
        ``()`` or ``(B,)`` AUC values; ``nan`` where a weighting has no positive or no negative.
    """
    num, den = auc_parts(score, label, weights)
    auc = np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
    return auc[0] if np.ndim(weights) != 2 else auc


def auc_parts(score: np.ndarray, label: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(num, den)`` of the weighted Mann-Whitney AUC, each ``(B,)`` (``(1,)`` for 1-d or no weights).

    ``num`` is the weight of (positive, negative) pairs ranked correctly (ties one half), ``den`` the
    weight of all such pairs; summing both over strata gives the AUC within strata.
    """
    score = np.asarray(score, dtype=np.float64)
    label = np.asarray(label)
    if score.shape != label.shape or score.ndim != 1:
        raise InvalidInputError(f"scores {score.shape} and labels {label.shape} must be matching 1-d arrays")
    if np.isnan(score).any():
        raise InvalidInputError("scores contain NaN")
    w = np.atleast_2d(np.ones_like(score) if weights is None else np.asarray(weights, dtype=np.float64))
    if w.shape[1] != score.size:
        raise InvalidInputError(f"weights cover {w.shape[1]} items, scores {score.size}")
    if score.size == 0:
        return np.zeros(w.shape[0]), np.zeros(w.shape[0])
    order = np.argsort(score, kind="stable")
    s = score[order]
    pos = (label[order] == 1).astype(np.float64)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ws = w[:, order]
    gp = np.add.reduceat(ws * pos, starts, axis=1)
    gn = np.add.reduceat(ws * (1.0 - pos), starts, axis=1)
    below = np.cumsum(gn, axis=1) - gn  # negative weight strictly below each tie group
    return (gp * (below + 0.5 * gn)).sum(axis=1), gp.sum(axis=1) * gn.sum(axis=1)


def within_wave_auc(score: np.ndarray, label: np.ndarray, waves: np.ndarray) -> float:
    """AUC comparing positive and negative items of the same wave (stratum) only; nan without any such pair."""
    num = den = 0.0
    for w in np.unique(waves):
        sel = waves == w
        n, d = auc_parts(score[sel], label[sel])
        num, den = num + float(n[0]), den + float(d[0])
    return num / den if den > 0 else float("nan")


def pigeonhole_weights(
    group: np.ndarray, side_a: np.ndarray, side_b: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """``(resamples, m)`` pair weights of the two-way bootstrap (module docstring).

    ``group`` ``(m,)`` is each pair's stratum (wave); ``side_a``/``side_b`` ``(m,)`` identify the two
    people of each pair. Within each stratum the people of each side are drawn with replacement.
    """
    m = group.size
    out = np.empty((resamples, m), dtype=np.float64)
    for g in np.unique(group):
        sel = np.flatnonzero(group == g)
        counts = []
        for side in (side_a[sel], side_b[sel]):
            people, idx = np.unique(side, return_inverse=True)
            draws = rng.multinomial(people.size, np.full(people.size, 1.0 / people.size), size=resamples)
            counts.append(draws[:, idx])
        out[:, sel] = counts[0] * counts[1]
    return out


def auc_with_ci(score: np.ndarray, label: np.ndarray, weights: np.ndarray, *, level: float = 0.95) -> Estimate:
    """AUC on all items plus the percentile interval over the bootstrap ``weights`` ``(B, m)``."""
    return estimate(auc_parts(score, label), auc_parts(score, label, weights), level=level)


def estimate(
    point: tuple[np.ndarray, np.ndarray], boot: tuple[np.ndarray, np.ndarray], *, level: float = 0.95
) -> Estimate:
    """An AUC and its percentile interval from ``auc_parts`` of all items and of each resample."""
    value = float(point[0][0] / point[1][0]) if point[1][0] > 0 else float("nan")
    ok = boot[1] > 0
    if not ok.any():
        return Estimate(value, float("nan"), float("nan"))
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot[0][ok] / boot[1][ok], [tail, 1.0 - tail])
    return Estimate(value, float(lo), float(hi))


def reciprocal_precision_at_k(
    score: np.ndarray, match: np.ndarray, side_a: np.ndarray, side_b: np.ndarray, k: int
) -> np.ndarray:
    """Per participant: the share of mutual matches among the ``k`` partners the score ranks highest.

    Every person on either side of the pairs gets a value if they had at least ``k`` dates (else they
    are left out); ties in the score are broken by pair order, so the result is deterministic.

    Returns
    -------
    np.ndarray
        ``(n_people,)`` precision values, in order of ``np.unique`` of the people ids.
    """
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    person = np.concatenate([side_a, side_b])
    s = np.concatenate([score, score])
    y = np.concatenate([match, match]).astype(np.float64)
    order = np.lexsort((np.arange(s.size), -s, person))  # by person, then best score first
    person, y = person[order], y[order]
    people, start, count = np.unique(person, return_index=True, return_counts=True)
    rank = np.arange(person.size) - np.repeat(start, count)
    top = rank < k
    hits = np.bincount(np.searchsorted(people, person[top]), weights=y[top], minlength=people.size)
    return (hits / k)[count >= k]
