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
from perfectmatch.matching.pairs import concat_ranges

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
    ok &= _first_occurrence(a, b)
    if excluded is not None and excluded.size:
        if ids is None:
            raise InvalidInputError("excluded pair keys need the user ids (ids=frame.ids)")
        ok &= ~np.isin(pair_keys(ids[a], ids[b]), excluded)
    return ok


def _first_occurrence(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask of the first occurrence of each unordered pair; a plain sort of the pair keys first
    finds out whether any pair repeats (in a batch none does), the slower stable search only if so."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys = lo * (int(max(hi.max(initial=0), lo.max(initial=0))) + 1) + hi
    del lo, hi
    ordered = np.sort(keys)
    if not (ordered[1:] == ordered[:-1]).any():
        return np.ones(a.size, dtype=bool)
    del ordered
    _, first = np.unique(keys, return_index=True)
    unique = np.zeros(a.size, dtype=bool)
    unique[first] = True
    return unique


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
    has_cap = caps > 0
    ok = np.flatnonzero(offerable(a, b, scores, min_score=min_score, excluded=excluded, ids=ids)
                        & has_cap[a] & has_cap[b])
    every = ok.size == a.size  # the batch passes only offerable pairs: no filtered copies then
    a_ok, b_ok = (a, b) if every else (a[ok], b[ok])
    degree = np.bincount(a_ok, minlength=n) + np.bincount(b_ok, minlength=n)
    deg_a, deg_b = degree[a_ok], degree[b_ok]
    priority = (scores if every else scores[ok]) + boost_points * (boost[a_ok] | boost[b_ok])
    priority -= congestion * (np.log1p(deg_a) + np.log1p(deg_b)) / 2.0
    del deg_a, deg_b
    order = _best_first(priority)  # ties by input position
    del priority
    ranked = order if every else ok[order]
    rows = np.int32 if n < 2**31 else np.int64
    ra, rb = a_ok[order].astype(rows), b_ok[order].astype(rows)
    del a_ok, b_ok, order
    if method == "global":
        scarcity = np.minimum(degree[ra], degree[rb])
        chosen = _staged_b_matching(ra, rb, caps, _stable_argsort(scarcity))
    else:
        chosen = _per_user_greedy(ra, rb, caps, boost, rng or np.random.default_rng(0))
    selected = np.sort(ranked[chosen])
    per_user = np.bincount(np.concatenate([a[selected], b[selected]]), minlength=n)
    eligible = degree > 0
    coverage = float((per_user[eligible] > 0).mean()) if eligible.any() else 1.0
    return Allocation(selected=selected, per_user=per_user, eligible=eligible, coverage=coverage,
                      gini=gini(per_user[eligible]), method=method)


def _best_first(priority: np.ndarray) -> np.ndarray:
    """Indices by descending priority, ties by index (``np.lexsort((arange, -priority))``).

    numpy's argsort of floats is a slow comparison sort, its plain sort of integers a fast SIMD
    one: the index goes into the low bits of an order-preserving integer image of the priority, so
    one ``np.sort`` orders by the priority's leading bits, then by index; only the runs that share
    those leading bits (equal or nearly equal priorities) are then re-sorted exactly.
    """
    key = -priority + 0.0  # ascending; + 0.0 turns -0.0 into 0.0 (they compare equal)
    if np.isnan(key).any():  # NaN compares with nothing: leave those inputs to the stable sort
        return np.argsort(key, kind="stable")
    bits = key.view(np.uint64)
    image = np.where(bits >> np.uint64(63), ~bits, bits | np.uint64(1 << 63))  # same order as key
    del key, bits
    return _sort_with_index(image)


def _sort_with_index(image: np.ndarray) -> np.ndarray:
    """Stable argsort of ``uint64`` values: one plain sort of (value, index) packed into one
    ``uint64``; when the two do not fit, the value's last bits are dropped and only the runs whose
    kept bits tie but whose values differ are then re-sorted exactly (a lexsort of few elements)."""
    m = image.size
    if not m:
        return np.zeros(0, dtype=np.int64)
    image = image - image.min()
    shift = max(int(m - 1).bit_length(), 1)
    drop = max(int(image.max()).bit_length() + shift - 64, 0)
    packed = (image >> np.uint64(drop)) << np.uint64(shift)
    packed |= np.arange(m, dtype=np.uint64)
    packed.sort()
    order = (packed & np.uint64((1 << shift) - 1)).astype(np.int64)
    if drop:
        packed >>= np.uint64(shift)
        _repair_runs(order, packed[1:] == packed[:-1], image)
    return order


def _repair_runs(order: np.ndarray, tie: np.ndarray, image: np.ndarray) -> None:
    """Re-sort by (value, index), in place, the runs of ``order`` whose neighbours ``tie`` (same
    leading bits) but whose values differ; runs of equal values are already in index order."""
    if not tie.any():
        return
    in_run = np.zeros(order.size, dtype=bool)
    in_run[1:] |= tie
    in_run[:-1] |= tie
    at = np.flatnonzero(in_run)
    run = np.cumsum(np.r_[True, ~tie[at[1:] - 1]])  # runs are contiguous: a new one where no tie
    value = image[order[at]]
    mixed = np.zeros(int(run[-1]) + 1, dtype=bool)
    mixed[run[1:][(value[1:] != value[:-1]) & (run[1:] == run[:-1])]] = True
    at, run = at[mixed[run]], run[mixed[run]]
    sub = order[at]
    order[at] = sub[np.lexsort((sub, image[sub], run))]


def _stable_argsort(values: np.ndarray) -> np.ndarray:
    """Stable argsort of non-negative integers (index packed into the low bits of one plain sort)."""
    if not values.size:
        return np.zeros(0, dtype=np.int64)
    if values.min() < 0:
        return np.argsort(values, kind="stable")
    return _sort_with_index(values.astype(np.uint64))


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values (``np.unique`` without its overhead)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


@dataclass(frozen=True)
class _UserLists:
    """Every user's edges in ascending edge order (a CSR layout): ``edge_at[ptr[u]:ptr[u + 1]]``,
    and at the same positions ``other_at``, the edge's other end (so a scan reads it in order)."""

    ptr: np.ndarray
    edge_at: np.ndarray
    other_at: np.ndarray


def _user_lists(a: np.ndarray, b: np.ndarray, n: int) -> _UserLists:
    """The per-user edge lists of edges ``(a[e], b[e])``: one plain sort of (user, directed entry)
    packed into ``int64`` (entry ``2e`` is edge ``e`` seen from ``a[e]``, ``2e + 1`` from ``b[e]``)."""
    m = a.size
    index = np.int32 if 2 * m < 2**31 else np.int64
    ends = np.empty(2 * m, dtype=index)
    ends[0::2], ends[1::2] = a, b
    shift = max(int(2 * m).bit_length(), 1)
    if (max(n, 1)).bit_length() + shift > 63:
        raise InvalidInputError(f"too many pairs to index: {m}")
    packed = ends.astype(np.int64) << shift
    packed |= np.arange(2 * m, dtype=np.int64)
    packed.sort()
    packed &= (1 << shift) - 1  # the directed entries, by user, then by edge
    entry = packed.astype(index)
    del packed
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(ends, minlength=n), out=ptr[1:])
    other_at = ends[entry ^ 1]
    entry >>= 1
    return _UserLists(ptr=ptr, edge_at=entry, other_at=other_at)


def _staged_b_matching(a: np.ndarray, b: np.ndarray, caps: np.ndarray, first_stage: np.ndarray) -> np.ndarray:
    """Indices of edges (given best first) chosen by greedy b-matching in stages of growing caps; the
    first stage (cap 1) takes edges in ``first_stage`` order (scarce users first) to maximise coverage."""
    n = caps.size
    first_a, first_b = a[first_stage], b[first_stage]
    room = np.minimum(caps, STAGE_CAPS[0])
    got, _ = _greedy_rounds(_user_lists(first_a, first_b, n), first_a, first_b, room,
                            (room[first_a] > 0) & (room[first_b] > 0))
    del first_a, first_b
    taken = np.zeros(a.size, dtype=bool)
    taken[first_stage[got]] = True
    used = _slots_used(a[taken], b[taken], n)
    lists = _user_lists(a, b, n)  # later stages: one set of lists, the taken edges dead
    for stage_cap in (*STAGE_CAPS[1:], None):
        room = (caps if stage_cap is None else np.minimum(caps, stage_cap)) - used
        got, _ = _greedy_rounds(lists, a, b, room, ~taken & (room[a] > 0) & (room[b] > 0))
        taken[got] = True
        used += _slots_used(a[got], b[got], n)
    return np.flatnonzero(taken)


def _slots_used(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Per user the number of edges ``(a[k], b[k])`` it is an end of (one slot each)."""
    return np.bincount(np.concatenate([a, b]), minlength=n)


def _greedy_b_matching(a: np.ndarray, b: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Sequential greedy b-matching (take each edge, best first, if both ends have room): the indices
    of the taken edges (see :func:`_greedy_rounds`)."""
    room = np.maximum(room, 0).astype(np.int64)
    got, _ = _greedy_rounds(_user_lists(a, b, room.size), a, b, room, (room[a] > 0) & (room[b] > 0))
    return got


@dataclass
class _Windows:
    """State of :func:`_greedy_rounds`: per user its room and window, per edge whether it is undecided.

    User ``u``'s window is its list positions ``ptr[u]..end[u] - 1``; it holds ``count[u]`` alive
    edges (``room[u]`` of them unless the list ran out); ``bound[u]`` is the first edge beyond it
    (lists ascend, so edge ``e`` of ``u`` is inside exactly when ``e < bound[u]``). An edge is
    alive when it is ``open`` (in this stage and not taken) and both its ends have room.
    """

    lists: _UserLists
    room: np.ndarray
    open: np.ndarray
    end: np.ndarray
    bound: np.ndarray
    count: np.ndarray


def _greedy_rounds(lists: _UserLists, a: np.ndarray, b: np.ndarray, room: np.ndarray,
                   alive: np.ndarray) -> tuple[np.ndarray, int]:
    """Sequential greedy b-matching of the ``alive`` edges (given best first), in vectorised rounds,
    and the number of rounds.

    Each user has a *window*: its ``room`` best alive (undecided) edges. An alive edge in the windows
    of both its ends is taken by the sequential algorithm too (fewer than ``room`` better edges can
    reach either end), and the best alive edge always is in both, so every round takes all such
    edges. Windows only grow: a taken edge leaves its window together with one slot of room, so
    only an edge that dies inside a window (its other end filled up) lets the window reach one more
    alive edge. A round therefore looks only at what changed: the edges of users who just filled
    up and the edges that enter a window; per-user pointers into the user lists replace re-ranking
    every alive edge.
    """
    n = room.size
    w = _Windows(lists=lists, room=room.astype(np.int64), open=alive.copy(), end=lists.ptr[:-1].copy(),
                 bound=np.zeros(n, dtype=np.int64), count=np.zeros(n, dtype=np.int64))
    users = np.flatnonzero(w.room > 0)
    entered = _grow(w, users, w.room[users])
    taken = np.zeros(a.size, dtype=bool)
    rounds = 0
    while (cand := _in_both_windows(w, entered)).size:
        rounds += 1
        taken[cand] = True
        w.open[cand] = False
        touched = _decrement((w.room, w.count), np.concatenate([a[cand], b[cand]]), n)
        grown = _lose_edges_of_full(w, touched[w.room[touched] == 0])
        entered = _grow(w, grown, w.room[grown] - w.count[grown])
    return np.flatnonzero(taken), rounds


def _decrement(targets: tuple[np.ndarray, ...], users: np.ndarray, n: int) -> np.ndarray:
    """Subtract one per occurrence of a user in ``users`` from each target; return the distinct users
    (a bincount when they are many, a sort when few)."""
    if users.size * 8 > n:
        counts = np.bincount(users, minlength=n)
        for t in targets:
            t -= counts
        return np.flatnonzero(counts)
    if not users.size:
        return users
    users = np.sort(users)
    first = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    distinct, counts = users[first], np.diff(np.r_[first, users.size])
    for t in targets:
        t[distinct] -= counts
    return distinct


def _in_both_windows(w: _Windows, entered: np.ndarray) -> np.ndarray:
    """The distinct edges at list positions ``entered`` (alive, just inside their owner's window)
    that are inside their other end's window too."""
    e = w.lists.edge_at[entered]
    return _distinct(e[e < w.bound[w.lists.other_at[entered]]])


def _lose_edges_of_full(w: _Windows, full: np.ndarray) -> np.ndarray:
    """The partners with room that just lost an edge inside their window because its other end
    filled up (all of a full user's alive edges lie beyond its window, which it took whole); they
    must grow. Their window counts drop; the edges are dead from now on through ``room``."""
    pos = concat_ranges(w.end[full], w.lists.ptr[full + 1], w.lists.edge_at.dtype)
    other = w.lists.other_at[pos]
    e = w.lists.edge_at[pos]
    inside = (w.room[other] > 0) & (e < w.bound[other])
    inside[inside] = w.open[e[inside]]
    return _decrement((w.count,), other[inside], w.room.size)


def _grow(w: _Windows, users: np.ndarray, need: np.ndarray) -> np.ndarray:
    """Move each user's window end past ``need`` more alive edges (or to its list's end), scanning
    blocks that double in length over dead edges; return the list positions that entered."""
    ptr, edge_at, other_at = w.lists.ptr, w.lists.edge_at, w.lists.other_at
    more = w.end[users] < ptr[users + 1]
    users, need = users[more], need[more]
    grown, entered, step = users, [], need.copy()
    while users.size:
        cur, stop = w.end[users], ptr[users + 1]
        length = np.minimum(step, stop - cur)
        pos = concat_ranges(cur, cur + length, edge_at.dtype)
        live = w.room[other_at[pos]] > 0
        live[live] = w.open[edge_at[pos[live]]]
        seen = np.cumsum(live, dtype=edge_at.dtype)
        last = np.cumsum(length) - 1
        got = seen[last] - np.r_[0, seen[last[:-1]]]
        left = np.repeat((need + seen[last] - got).astype(seen.dtype), length)
        left -= seen  # need left after each position
        keep = live & (left >= 0)
        entered.append(pos[keep])
        done = got >= need
        reached = cur + length
        reached[done] = pos[keep & (left == 0)] + 1  # one past the need-th alive edge
        w.end[users] = reached
        gained = np.minimum(got, need)
        w.count[users] += gained
        need = need - gained
        more = (need > 0) & (reached < stop)
        users, need, step = users[more], need[more], step[more] * 2
    if grown.size:
        end = w.end[grown]
        w.bound[grown] = np.where(end < ptr[grown + 1], edge_at[np.minimum(end, edge_at.size - 1)], w.open.size)
    return np.concatenate(entered) if entered else np.zeros(0, dtype=np.int64)


def _per_user_greedy(a: np.ndarray, b: np.ndarray, caps: np.ndarray, boost: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Users in turn (boosted first, then a random order) take their best edges with room on both sides."""
    lists = _user_lists(a, b, caps.size)
    bounds = lists.ptr.tolist()
    taken = bytearray(a.size)
    users = rng.permutation(caps.size)
    users = np.concatenate([users[boost[users]], users[~boost[users]]])
    a_list, b_list, edges = a.tolist(), b.tolist(), lists.edge_at.tolist()
    room_l = caps.tolist()
    for u in users.tolist():
        for k in range(bounds[u], bounds[u + 1]):
            if room_l[u] <= 0:
                break
            e = edges[k]
            if taken[e]:
                continue
            v = b_list[e] if a_list[e] == u else a_list[e]
            if room_l[v] > 0:
                taken[e] = 1
                room_l[u] -= 1
                room_l[v] -= 1
    return np.flatnonzero(np.frombuffer(taken, dtype=np.uint8))


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
