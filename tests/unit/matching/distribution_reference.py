"""The distribution step as it was before the round-based rewrite (commit f90830e), kept verbatim as
the reference the current code must equal bit for bit (slow: it re-ranks every alive edge per round)."""

from __future__ import annotations

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import pair_keys

STAGE_CAPS = (1, 3)


def reference_offerable(
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


def reference_allocate(
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
) -> np.ndarray:
    """The selection of ``distribution.allocate`` as of commit f90830e (validation left out)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    caps = np.asarray(caps, dtype=np.int64)
    n = caps.size
    boost = np.zeros(n, dtype=bool) if boost is None else np.asarray(boost, dtype=bool)
    ok = np.flatnonzero(reference_offerable(a, b, scores, min_score=min_score, excluded=excluded, ids=ids))
    ok = ok[(caps[a[ok]] > 0) & (caps[b[ok]] > 0)]
    degree = np.bincount(np.concatenate([a[ok], b[ok]]), minlength=n)
    priority = scores[ok] + boost_points * (boost[a[ok]] | boost[b[ok]])
    priority -= congestion * (np.log1p(degree[a[ok]]) + np.log1p(degree[b[ok]])) / 2.0
    order = np.lexsort((ok, -priority))  # best first; ties by input position
    ranked = ok[order]
    if method == "global":
        scarcity = np.minimum(degree[a[ranked]], degree[b[ranked]])
        chosen = reference_staged_b_matching(a[ranked], b[ranked], caps, np.lexsort((np.arange(ranked.size), scarcity)))
    else:
        chosen = reference_per_user_greedy(a[ranked], b[ranked], caps, boost, rng or np.random.default_rng(0))
    return np.sort(ranked[chosen])


def reference_staged_b_matching(a: np.ndarray, b: np.ndarray, caps: np.ndarray, first_stage: np.ndarray) -> np.ndarray:
    """Indices of edges (given best first) chosen by greedy b-matching in stages of growing caps; the
    first stage (cap 1) takes edges in ``first_stage`` order (scarce users first) to maximise coverage."""
    taken = np.zeros(a.size, dtype=bool)
    used = np.zeros(caps.size, dtype=np.int64)
    for stage, stage_cap in enumerate((*STAGE_CAPS, None)):
        limit = caps if stage_cap is None else np.minimum(caps, stage_cap)
        todo = first_stage if stage == 0 else np.flatnonzero(~taken)
        got = reference_greedy_b_matching(a[todo], b[todo], limit - used)
        taken[todo[got]] = True
        used += np.bincount(np.concatenate([a[todo[got]], b[todo[got]]]), minlength=caps.size)
    return np.flatnonzero(taken)


def reference_greedy_b_matching(a: np.ndarray, b: np.ndarray, room: np.ndarray) -> np.ndarray:
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


def reference_per_user_greedy(a: np.ndarray, b: np.ndarray, caps: np.ndarray, boost: np.ndarray,
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
