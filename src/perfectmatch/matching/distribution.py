"""Daily distribution: which scored pairs become today's matches, under tier caps and fairness.

Rules (all enforced here and verified by :func:`check`):

* only pairs scoring at least ``min_score`` (70) are offered, never an excluded or repeated pair;
* a delivered pair uses one slot on **both** sides; no user gets more than their cap
  (free 10, premium 50: the caps are an argument);
* users in their first week are boosted: their pairs get ``boost_points`` extra priority;
* congestion control: a pair's priority is lowered by ``congestion`` points per ``log(1 + degree)``
  of its users (degree = number of offerable pairs), so popular users do not take every slot, and
  the global assignment runs in *stages* of growing caps (1, then 3, then the full cap): everyone
  who can get a first match gets it before anybody gets a second. The first stage takes pairs
  scarce users first (smallest ``min(degree_a, degree_b)``, then priority: the min-degree
  heuristic for maximum matchings), which raises coverage; every offered pair is above the
  threshold anyway. This is a fairness-aware greedy b-matching.

Two assignments: ``"global"`` (the staged greedy b-matching above, computed in vectorised rounds:
an edge is accepted when it is among the best remaining edges of both its users, which yields
exactly the sequential greedy result) and ``"greedy"`` (per user, in order: boosted users first,
then a seeded random order; each takes its best pairs whose partner still has room). Both report
coverage (share of eligible users with at least one match) and the Gini of matches per user.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import pair_keys

STAGE_CAPS = (1, 3)


@dataclass(frozen=True)
class Allocation:
    """The outcome of :func:`allocate`.

    Attributes
    ----------
    selected
        Sorted indices into the input pairs that are delivered.
    per_user
        ``(n,)`` matches delivered per user.
    eligible
        ``(n,)`` bool: the user had at least one offerable pair and a cap above 0.
    coverage
        Share of eligible users with at least one match (1.0 when nobody is eligible).
    gini
        Gini coefficient of ``per_user`` over eligible users (0 = perfectly even).
    method
        ``"global"`` or ``"greedy"``.
    """

    selected: np.ndarray
    per_user: np.ndarray
    eligible: np.ndarray
    coverage: float
    gini: float
    method: str


@dataclass(frozen=True)
class Violation:
    """One broken distribution rule, as data."""

    rule: str
    pair: int
    detail: str


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0 for empty or all-zero input)."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    total = x.sum()
    if x.size == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, x.size + 1)
    return float((2.0 * (ranks * x).sum()) / (x.size * total) - (x.size + 1) / x.size)


def offerable(
    a: np.ndarray, b: np.ndarray, scores: np.ndarray, *, min_score: float,
    excluded: np.ndarray | None = None, ids: np.ndarray | None = None,
) -> np.ndarray:
    """Mask of pairs that may be offered: score >= ``min_score``, two different users, not excluded
    (``excluded`` holds ``pair_keys`` of ``ids``), first occurrence of each pair."""
    ok = (scores >= min_score) & (a != b) & ~np.isnan(scores)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(lo * (int(max(hi.max(initial=0), lo.max(initial=0))) + 1) + hi, return_index=True)
    unique = np.zeros(a.size, dtype=bool)
    unique[first] = True
    ok &= unique
    if excluded is not None and excluded.size:
        if ids is None:
            raise InvalidInputError("excluded pair keys need the user ids (ids=frame.ids)")
        ok &= ~np.isin(pair_keys(ids[a], ids[b]), excluded)
    return ok


def allocate(
    a: np.ndarray,
    b: np.ndarray,
    scores: np.ndarray,
    *,
    caps: np.ndarray,
    min_score: float = 70.0,
    boost: np.ndarray | None = None,
    excluded: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    method: str = "global",
    boost_points: float = 10.0,
    congestion: float = 2.0,
    rng: np.random.Generator | None = None,
) -> Allocation:
    """Choose today's matches among scored pairs.

    Parameters
    ----------
    a, b
        ``(m,)`` user rows (``0..n-1``) of each pair.
    scores
        ``(m,)`` final scores 0-100.
    caps
        ``(n,)`` daily cap per user (e.g. 10 free, 50 premium).
    min_score
        Delivery threshold (70).
    boost
        ``(n,)`` bool, users in their first week.
    excluded, ids
        Pair keys never to offer and the user ids they refer to.
    method
        ``"global"`` (staged fairness-aware greedy b-matching) or ``"greedy"`` (per user).
    boost_points, congestion
        Priority bonus for pairs with a boosted user; priority penalty per ``log(1 + degree)``.
    rng
        Random order of users for ``"greedy"`` (default seed 0).

    Returns
    -------
    Allocation
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.int64)
    n = caps.size
    if a.shape != b.shape or a.shape != scores.shape:
        raise InvalidInputError(f"pair arrays differ in shape: a {a.shape}, b {b.shape}, scores {scores.shape}")
    if a.size and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n):
        raise InvalidInputError(f"pair rows must be in 0..{n - 1} (one cap per user)")
    if method not in ("global", "greedy"):
        raise InvalidInputError(f"method must be 'global' or 'greedy', got {method!r}")
    boost = np.zeros(n, dtype=bool) if boost is None else np.asarray(boost, dtype=bool)
    ok = np.flatnonzero(offerable(a, b, scores, min_score=min_score, excluded=excluded, ids=ids))
    ok = ok[(caps[a[ok]] > 0) & (caps[b[ok]] > 0)]
    degree = np.bincount(np.concatenate([a[ok], b[ok]]), minlength=n)
    priority = scores[ok] + boost_points * (boost[a[ok]] | boost[b[ok]])
    priority -= congestion * (np.log1p(degree[a[ok]]) + np.log1p(degree[b[ok]])) / 2.0
    order = np.lexsort((ok, -priority))  # best first; ties by input position
    ranked = ok[order]
    if method == "global":
        scarcity = np.minimum(degree[a[ranked]], degree[b[ranked]])
        chosen = _staged_b_matching(a[ranked], b[ranked], caps, np.lexsort((np.arange(ranked.size), scarcity)))
    else:
        chosen = _per_user_greedy(a[ranked], b[ranked], caps, boost, rng or np.random.default_rng(0))
    selected = np.sort(ranked[chosen])
    per_user = np.bincount(np.concatenate([a[selected], b[selected]]), minlength=n)
    eligible = degree > 0
    coverage = float((per_user[eligible] > 0).mean()) if eligible.any() else 1.0
    return Allocation(selected=selected, per_user=per_user, eligible=eligible, coverage=coverage,
                      gini=gini(per_user[eligible]), method=method)


def _staged_b_matching(a: np.ndarray, b: np.ndarray, caps: np.ndarray, first_stage: np.ndarray) -> np.ndarray:
    """Indices of edges (given best first) chosen by greedy b-matching in stages of growing caps; the
    first stage (cap 1) takes edges in ``first_stage`` order (scarce users first) to maximise coverage."""
    taken = np.zeros(a.size, dtype=bool)
    used = np.zeros(caps.size, dtype=np.int64)
    for stage, stage_cap in enumerate((*STAGE_CAPS, None)):
        limit = caps if stage_cap is None else np.minimum(caps, stage_cap)
        todo = first_stage if stage == 0 else np.flatnonzero(~taken)
        got = _greedy_b_matching(a[todo], b[todo], limit - used)
        taken[todo[got]] = True
        used += np.bincount(np.concatenate([a[todo[got]], b[todo[got]]]), minlength=caps.size)
    return np.flatnonzero(taken)


def _greedy_b_matching(a: np.ndarray, b: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Sequential greedy b-matching (take each edge, best first, if both ends have room), computed in
    vectorised rounds: an undecided edge among the ``room`` best undecided edges of both its ends is
    taken by the sequential algorithm too, and the best undecided edge always qualifies."""
    room = np.maximum(room, 0).copy()
    m = a.size
    edge = np.concatenate([np.arange(m), np.arange(m)])
    end = np.concatenate([a, b])
    order = np.argsort(end * max(m, 1) + edge)  # by user, then by edge rank (edges are given best first)
    edge, end = edge[order], end[order]
    taken = np.zeros(m, dtype=bool)
    alive = (room[a] > 0) & (room[b] > 0)
    while True:
        keep = alive[edge]
        edge, end = edge[keep], end[keep]
        if edge.size == 0:
            break
        start = np.r_[True, end[1:] != end[:-1]]
        first = np.flatnonzero(start)
        rank = np.arange(end.size) - np.repeat(first, np.diff(np.append(first, end.size)))
        votes = np.bincount(edge[rank < room[end]], minlength=m)
        won = votes == 2
        if not won.any():  # cannot happen (the best alive edge wins); guard against a silent loop
            raise AssertionError("greedy b-matching made no progress")
        taken |= won
        room -= np.bincount(np.concatenate([a[won], b[won]]), minlength=room.size)
        alive &= ~won & (room[a] > 0) & (room[b] > 0)
    return np.flatnonzero(taken)


def _per_user_greedy(a: np.ndarray, b: np.ndarray, caps: np.ndarray, boost: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Users in turn (boosted first, then a random order) take their best edges with room on both sides."""
    m = a.size
    edge = np.concatenate([np.arange(m), np.arange(m)])
    end = np.concatenate([a, b])
    order = np.argsort(end * max(m, 1) + edge)
    edge, end = edge[order], end[order]
    bounds = np.searchsorted(end, np.arange(caps.size + 1))
    room = caps.copy()
    taken = np.zeros(m, dtype=bool)
    users = rng.permutation(caps.size)
    users = np.concatenate([users[boost[users]], users[~boost[users]]])
    a_list, b_list, edges = a.tolist(), b.tolist(), edge.tolist()
    room_l = room.tolist()
    for u in users.tolist():
        for k in range(bounds[u], bounds[u + 1]):
            if room_l[u] <= 0:
                break
            e = edges[k]
            if taken[e]:
                continue
            v = b_list[e] if a_list[e] == u else a_list[e]
            if room_l[v] > 0:
                taken[e] = True
                room_l[u] -= 1
                room_l[v] -= 1
    return np.flatnonzero(taken)


def check(
    a: np.ndarray,
    b: np.ndarray,
    scores: np.ndarray,
    selected: np.ndarray,
    *,
    caps: np.ndarray,
    min_score: float = 70.0,
    excluded: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    compatible: np.ndarray | None = None,
) -> list[Violation]:
    """Every rule the selection breaks, as data (an empty list means valid).

    ``compatible`` optionally gives, per input pair, whether it passes the mutual prefilter
    (``prefilter.mutual_mask``); ``excluded`` and ``ids`` as in :func:`allocate`.
    """
    out: list[Violation] = []
    sel = np.asarray(selected, dtype=np.int64)
    sa, sb = a[sel], b[sel]
    for k in sel[scores[sel] < min_score].tolist():
        out.append(Violation("min_score", k, f"score {scores[k]:.2f} < {min_score}"))
    for k in sel[sa == sb].tolist():
        out.append(Violation("self_pair", k, f"user row {a[k]} paired with itself"))
    lo, hi = np.minimum(sa, sb), np.maximum(sa, sb)
    keys = lo * (int(max(hi.max(initial=0), 0)) + 1) + hi
    _, first, counts = np.unique(keys, return_index=True, return_counts=True)
    for k in sel[first[counts > 1]].tolist():
        out.append(Violation("duplicate", k, f"pair ({a[k]}, {b[k]}) delivered more than once"))
    per_user = np.bincount(np.concatenate([sa, sb]), minlength=caps.size)
    for u in np.flatnonzero(per_user > caps).tolist():
        out.append(Violation("cap", -1, f"user row {u} got {per_user[u]} matches, cap {caps[u]}"))
    if excluded is not None and excluded.size and ids is not None:
        for k in sel[np.isin(pair_keys(ids[sa], ids[sb]), excluded)].tolist():
            out.append(Violation("excluded", k, f"pair ({ids[a[k]]}, {ids[b[k]]}) is excluded"))
    if compatible is not None:
        for k in sel[~np.asarray(compatible, dtype=bool)[sel]].tolist():
            out.append(Violation("prefilter", k, f"pair ({a[k]}, {b[k]}) fails the mutual prefilter"))
    return out
