"""Candidate generation: every mutual prefilter + cosine >= threshold + top-K partners per user.

Entry points (the primitives live in ``pairs``, the blocked engine in ``blocked``):

* :func:`exact_candidates` (the production path): active users are sorted into blocks that share
  gender, genders sought and goal, one geo cell and one age band; a block-level test (class
  compatibility, age ranges, a lower bound on the distance between blocks) keeps only block pairs
  that *can* hold a compatible pair, and each unit of query blocks does one matrix product with
  the rows of its compatible blocks. No dense ``n x n`` matrix is ever formed.
* :func:`dense_candidates` (the reference and the naive baseline): query rows times all rows, then
  the prefilter as a boolean mask over the dense result.
* :func:`generate_with_expansion`: exact candidates plus progressive radius expansion for users
  whose pool is too small, recomputing only those users.

Both exact paths multiply whole-number grid vectors (``pairs.grid_vectors``), whose float32
products are exact whatever the summation order, and rank partners by similarity descending, then
row ascending, so they agree exactly, ties included.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.blocked import _COMPACT_ENTRIES, blas_threads, exact_survivors, pool_sizes
from perfectmatch.matching.pairs import (
    Candidates,
    _check,
    _concat,
    _query_rows,
    _row_best_first,
    grid_vectors,
    min_grid_dot,
    pair_similarity,
    placed_candidates,
    similarity_of,
    to_candidates,
    top_k_triples,
)
from perfectmatch.matching.prefilter import PairRules, RadiusExpansion, mutual_mask

EXPANSION_FACTORS = (1.5, 2.0, 3.0, 4.0)  # radius multipliers, one per expansion round

#: ``(rules, rows, current lists) -> (rows, partners, sims)``: compatible partners of ``rows`` (see expand_candidates)
Survivors = Callable[[PairRules, np.ndarray, Candidates], tuple[np.ndarray, np.ndarray, np.ndarray]]

__all__ = [
    "Candidates",
    "dense_candidates",
    "dense_survivors",
    "exact_candidates",
    "exact_survivors",
    "expand_candidates",
    "generate_with_expansion",
    "pair_similarity",
    "pool_sizes",
    "to_candidates",
    "top_k_triples",
]


# ----------------------------------------------------------------------------- dense reference
def dense_survivors(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    threshold: float,
    k: int | None,
    rows: np.ndarray | None = None,
    chunk_rows: int = 512,
    threads: int | None = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed triples ``(row, partner, sim)`` by the naive method: dense similarity of ``chunk_rows``
    query rows against all rows, then the prefilter as a boolean mask over that dense block
    (``threads``: BLAS threads for the product, as in :func:`exact_survivors`)."""
    _check(frame, vecs, rules, k)
    n = len(frame)
    everyone = np.arange(n)
    grid = grid_vectors(vecs)
    min_dot = min_grid_dot(threshold, vecs.shape[1])
    out_r, out_c, out_s = [], [], []
    q_all = _query_rows(n, rows)
    for start in range(0, q_all.size, chunk_rows):
        q = q_all[start : start + chunk_rows]
        with blas_threads(threads):
            dense = grid[q] @ grid.T
        mask = (dense >= min_dot) & mutual_mask(frame, rules, q[:, None], everyone[None, :])
        r, c = np.nonzero(mask)
        s = similarity_of(dense[r, c], vecs.shape[1])
        qi, c, s, _ = top_k_triples(q[r], c.astype(np.int64), s, k=k)
        out_r.append(qi)
        out_c.append(c)
        out_s.append(s)
    return _concat(out_r, out_c, out_s)


def dense_candidates(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    k: int,
    threshold: float = 0.65,
    rows: np.ndarray | None = None,
    chunk_rows: int = 512,
) -> Candidates:
    """Brute-force reference (and naive baseline): see :func:`dense_survivors`.

    Parameters
    ----------
    frame, vecs, rules
        Population (``n`` rows), ``(n, d)`` float32 L2-normalised vectors, prefilter inputs.
    k
        Partners kept per user.
    threshold
        Minimum cosine similarity (0.65 in the spec).
    rows
        Only compute these query rows (the others stay empty); default all.
    chunk_rows
        Query rows per dense block (memory is ``chunk_rows * n`` floats plus masks).

    Returns
    -------
    Candidates
        ``(n, k)`` partners per user.
    """
    r, c, s = dense_survivors(frame, vecs, rules, threshold=threshold, k=k, rows=rows, chunk_rows=chunk_rows)
    return to_candidates(len(frame), k, r, c, s)


def exact_candidates(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    k: int,
    threshold: float = 0.65,
    rows: np.ndarray | None = None,
    cell_km: float = 40.0,
    age_band: int = 6,
    min_query: int = 64,
    threads: int | None = 1,
    buffer_entries: int = _COMPACT_ENTRIES,
    workers: int = 1,
) -> Candidates:
    """Exact top-``k`` candidates per user by blocked matrix products (see the module docstring).

    Parameters
    ----------
    frame, vecs, rules
        Population (``n`` rows), ``(n, d)`` float32 L2-normalised vectors, prefilter inputs.
    k
        Partners kept per user (50 in the spec).
    threshold
        Minimum cosine similarity (0.65 in the spec).
    rows
        Only compute these query rows (others stay empty); default all.
    cell_km, age_band, min_query
        Partition tuning: geo cell side, age band width, query rows per matrix product.
    threads
        BLAS threads during the products (default 1, see :func:`blas_threads`; ``None`` = as is).
    buffer_entries
        Entries collected before they are reduced to each row's best ``k`` (bounds memory).
    workers
        Threads processing units of work in parallel (results do not depend on it).

    Returns
    -------
    Candidates
        Identical to :func:`dense_candidates` with the same arguments.
    """
    r, c, s = exact_survivors(frame, vecs, rules, threshold=threshold, k=k, rows=rows, cell_km=cell_km,
                              age_band=age_band, min_query=min_query, threads=threads,
                              buffer_entries=buffer_entries, workers=workers)
    return to_candidates(len(frame), k, r, c, s)


def generate_with_expansion(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    k: int,
    threshold: float = 0.65,
    min_pool: int = 20,
    max_radius_km: float = 200.0,
    factors: tuple[float, ...] = EXPANSION_FACTORS,
    **tuning: Any,
) -> tuple[Candidates, RadiusExpansion]:
    """Exact candidates with progressive radius expansion for users with fewer than ``min_pool``.

    First :func:`exact_candidates` for everyone. Active users left with fewer than ``min_pool``
    candidates get their own radius times the next factor (capped at ``max_radius_km``, never
    below their own); only their complete partner lists are recomputed under the new radii, and
    each new pair is also offered to the partner's list. Because radii only grow, a partner's new
    list is the best ``k`` of its old list and its new pairs, so the result equals
    :func:`exact_candidates` run with the final radii (``rules.with_radius(expansion.radius_km)``)
    at a fraction of the cost: only the (few) expanded users are recomputed.

    Returns
    -------
    (Candidates, RadiusExpansion)
        The candidates and, per user, the final radius and how far it was widened.
    """
    r, c, s = exact_survivors(frame, vecs, rules, threshold=threshold, k=k, **tuning)
    cands, sims64 = placed_candidates(len(frame), k, r, c, s)
    return expand_candidates(frame, vecs, rules, cands, threshold=threshold, min_pool=min_pool,
                             max_radius_km=max_radius_km, factors=factors, sims64=sims64, **tuning)


def expand_candidates(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    cands: Candidates,
    *,
    threshold: float = 0.65,
    min_pool: int = 20,
    max_radius_km: float = 200.0,
    factors: tuple[float, ...] = EXPANSION_FACTORS,
    survivors: Survivors | None = None,
    sims64: np.ndarray | None = None,
    **tuning: Any,
) -> tuple[Candidates, RadiusExpansion]:
    """The radius-expansion part of :func:`generate_with_expansion`, starting from ``cands``
    (:func:`exact_candidates` under ``rules``, however computed). ``survivors(rules, rows, cands)``
    gives the compatible partners of ``rows`` under ``rules`` as directed triples in any order: all
    of them (default: one exact pass at the widest radii, :func:`survivors_within`), or at least every entry that is in
    its row's top ``k`` or can enter the partner's current list ``cands`` (the other entries cannot
    change any list). The Dask engine computes both on its workers and shares this step, so both
    engines agree exactly. ``sims64``: the float64 similarities of ``cands`` (``nan`` where unknown
    or empty), which the lists are ranked on; those missing are computed when first needed.

    Each round touches only the rows whose lists change: the needy rows (their new list is the head
    of their own entries) and the partners that an entry reaches (:func:`partner_floor`)."""
    lists = _Lists.of(cands, sims64)
    start = rules.radius_km.copy()
    cap = np.maximum(start, max_radius_km)
    radius = start.copy()
    current = rules
    needy, widest = expansion_plan(rules, cands, min_pool=min_pool, max_radius_km=max_radius_km, factors=factors)
    if survivors is None and needy.any():
        r, c, s = exact_survivors(frame, vecs, rules.with_radius(widest), threshold=threshold, k=None,
                                  rows=np.flatnonzero(needy), **tuning)
        survivors = survivors_within(r, c, s)
    for factor in sorted(factors):
        needy &= radius < cap
        if not needy.any():
            break
        radius[needy] = np.minimum(start[needy] * factor, cap[needy])
        current = current.with_radius(radius)
        rows = np.flatnonzero(needy)
        r, c, s, rank = ranked(*survivors(current, rows, lists.candidates()))
        floor = partner_floor(lists.candidates(), needy)
        give = ~needy[c] & (s >= floor[c])  # entries that may enter a (not needy) partner's list
        lists.merge_partners(vecs, c[give], r[give], s[give])
        lists.replace_heads(r, c, s, rank)
        needy[rows] &= lists.counts(rows) < min_pool
    return lists.candidates(), RadiusExpansion(radius_km=radius, added_km=radius - start)


@dataclass
class _Lists:
    """Mutable top-``k`` lists during expansion: partner rows, float32 and float64 similarities."""

    idx: np.ndarray
    sims: np.ndarray
    s64: np.ndarray

    @classmethod
    def of(cls, cands: Candidates, sims64: np.ndarray | None) -> _Lists:
        """Copies of ``cands`` (left untouched) and of its float64 similarities (``nan``: unknown)."""
        s64 = np.full(cands.idx.shape, np.nan) if sims64 is None else np.array(sims64, dtype=np.float64)
        return cls(idx=cands.idx.copy(), sims=cands.sims.copy(), s64=s64)

    @property
    def k(self) -> int:
        return int(self.idx.shape[1])

    def candidates(self) -> Candidates:
        """The current lists as :class:`Candidates` (a view: later rounds change them in place)."""
        return Candidates(idx=self.idx, sims=self.sims)

    def counts(self, rows: np.ndarray) -> np.ndarray:
        """Number of partners listed for each of ``rows``."""
        return (self.idx[rows] >= 0).sum(axis=1)

    def place(self, rows: np.ndarray, r: np.ndarray, c: np.ndarray, s: np.ndarray, rank: np.ndarray) -> None:
        """Replace the lists of ``rows`` by the entries ``(r, c, s)`` at slots ``rank`` (``r`` within ``rows``)."""
        self.idx[rows] = -1
        self.s64[rows] = np.nan
        self.idx[r, rank] = c
        self.s64[r, rank] = s
        self.sims[rows] = self.s64[rows]

    def replace_heads(self, r: np.ndarray, c: np.ndarray, s: np.ndarray, rank: np.ndarray) -> None:
        """Needy rows' new lists: the first ``k`` of their own entries (``rank``: position within the row,
        best first). Their old lists are a subset of those entries, since radii only grow."""
        head = rank < self.k
        self.place(np.unique(r), r[head], c[head], s[head], rank[head])

    def merge_partners(self, vecs: np.ndarray, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray) -> None:
        """Offer the entries ``(rows, cols, sims)`` to the lists of ``rows``: each list becomes the best
        ``k`` of its old entries and the new ones (an entry already listed counts once). The old lists
        are sorted already, so each new entry's slot is found by comparing it with its row's list
        (no sort of the old entries: a partner row gets few new entries but has up to ``k``)."""
        if rows.size == 0:
            return
        self._fill_unknown(vecs, np.unique(rows))
        listed, ahead = self._insertion_slots(rows, cols, sims)
        rows, cols, sims, ahead = (x[~listed] for x in (rows, cols, sims, ahead))
        order = _row_best_first(rows, cols, sims)
        rows, cols, sims, ahead = rows[order], cols[order], sims[order], ahead[order]
        self._insert(rows, cols, sims, ahead, ahead + _run_ranks(rows))

    def _insertion_slots(self, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per new entry: whether its row lists it already, and how many of its row's entries rank
        before it (similarity descending, then partner ascending), in chunks of bounded memory."""
        listed = np.zeros(rows.size, dtype=bool)
        ahead = np.zeros(rows.size, dtype=np.int64)
        for lo in range(0, rows.size, _MERGE_CHUNK):
            part = slice(lo, lo + _MERGE_CHUNK)
            oc, os_ = self.idx[rows[part]], self.s64[rows[part]]
            c, s = cols[part, None], sims[part, None]
            listed[part] = (oc == c).any(axis=1)
            ahead[part] = ((os_ > s) | ((os_ == s) & (oc >= 0) & (oc < c))).sum(axis=1)
        return listed, ahead

    def _insert(self, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, ahead: np.ndarray, pos: np.ndarray) -> None:
        """Place new entries (none listed yet) at slots ``pos`` of their rows' lists, ``ahead`` old entries
        of the row before each; the old entries move down past the new ones and the last fall off."""
        k = self.k
        changed, at = np.unique(rows, return_inverse=True)
        old_c, old_s = self.idx[changed], self.s64[changed]
        inserted = np.bincount(at * (k + 1) + ahead, minlength=changed.size * (k + 1)).reshape(-1, k + 1)
        old_pos = np.arange(k) + np.cumsum(inserted, axis=1)[:, :k]
        new_c, new_s = np.full_like(old_c, -1), np.full_like(old_s, np.nan)
        i, slot = np.nonzero((old_c >= 0) & (old_pos < k))
        new_c[i, old_pos[i, slot]], new_s[i, old_pos[i, slot]] = old_c[i, slot], old_s[i, slot]
        fits = pos < k
        new_c[at[fits], pos[fits]], new_s[at[fits], pos[fits]] = cols[fits], sims[fits]
        self.idx[changed], self.s64[changed], self.sims[changed] = new_c, new_s, new_s

    def _fill_unknown(self, vecs: np.ndarray, rows: np.ndarray) -> None:
        """Compute the float64 similarities still unknown (``nan``) in the lists of ``rows``."""
        i, slot = np.nonzero((self.idx[rows] >= 0) & np.isnan(self.s64[rows]))
        if i.size:
            i = rows[i]
            self.s64[i, slot] = pair_similarity(vecs, i, self.idx[i, slot].astype(np.int64))


_MERGE_CHUNK = 65_536  # new entries compared with their rows' lists at a time (bounded temporaries)


def expansion_plan(
    rules: PairRules, cands: Candidates, *, min_pool: int, max_radius_km: float, factors: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``(needy, widest)``: the active rows :func:`expand_candidates` starts widening (fewer than
    ``min_pool`` candidates, radius below the cap) and every row's largest radius over the rounds
    (its own for the others)."""
    start = rules.radius_km
    cap = np.maximum(start, max_radius_km)
    needy = rules.active & (cands.counts() < min_pool) & (start < cap) & bool(factors)
    widest = np.where(needy, np.minimum(start * max(factors, default=1.0), cap), start)
    return needy, widest


def survivors_within(r: np.ndarray, c: np.ndarray, s: np.ndarray, dots: np.ndarray | None = None) -> Survivors:
    """:func:`expand_candidates`' ``survivors`` from every compatible partner ``(r, c, s)`` of the
    needy rows under their widest radii (:func:`expansion_plan`), computed once: each round keeps the
    entries of the rows it asks for whose distance fits that round's radii. Radii only grow, so a
    round's compatible pairs are a subset of these, and one pass at the widest radii costs less than
    one pass per round. ``dots``: the entries' :func:`unit_dots` when already known."""
    return _WidestSurvivors(r, c, s, dots)


class _WidestSurvivors:
    """:func:`survivors_within`'s function: the entries in row-best-first order (a round's selection
    keeps it, so ranking needs no sort) with their :func:`unit_dots`, both computed once; each call
    drops the entries of rows no longer asked for, so each call's rows must be among the previous
    call's (as in :func:`expand_candidates`)."""

    def __init__(self, r: np.ndarray, c: np.ndarray, s: np.ndarray, dots: np.ndarray | None) -> None:
        order = None if in_row_best_first(r, c, s) else _merged_order(r, c, s)
        self.r, self.c, self.s = (x if order is None else x[order] for x in (r, c, s))
        self.dots = None if dots is None else dots if order is None else dots[order]
        self.asked: np.ndarray | None = None

    def __call__(
        self, current: PairRules, rows: np.ndarray, _: Candidates
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The entries of ``rows`` within both sides' radii under ``current``, in row-best-first order."""
        asked = np.zeros(current.radius_km.shape[0], dtype=bool)
        asked[rows] = True
        if self.asked is not None and (asked & ~self.asked).any():
            raise ValueError("survivors_within: each call must ask for a subset of the previous call's rows")
        keep = asked[self.r]
        self.r, self.c, self.s, self.asked = self.r[keep], self.c[keep], self.s[keep], asked
        self.dots = unit_dots(current, self.r, self.c) if self.dots is None else self.dots[keep]
        fits = self.dots >= np.maximum(current.cos_radius[self.r], current.cos_radius[self.c])
        return self.r[fits], self.c[fits], self.s[fits]


def _merged_order(r: np.ndarray, c: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The row-best-first permutation; for blocks each already in that order (the Dask partitions'
    entries, concatenated) a stable sort by row alone, which merges the sorted runs in linear time."""
    order = np.argsort(r, kind="stable")
    return order if in_row_best_first(r[order], c[order], s[order]) else _row_best_first(r, c, s)


def in_row_best_first(r: np.ndarray, c: np.ndarray, s: np.ndarray) -> bool:
    """Whether the entries already are in :func:`top_k_triples`' order (row, similarity descending,
    partner ascending): an O(n) check that lets sorted input skip the sort."""
    r0, r1, s0, s1 = r[:-1], r[1:], s[:-1], s[1:]
    return bool(np.all((r1 > r0) | ((r1 == r0) & ((s1 < s0) | ((s1 == s0) & (c[1:] > c[:-1]))))))


def ranked(r: np.ndarray, c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``top_k_triples(r, c, s, k=None)``, without its sort when the entries are in order already."""
    if not in_row_best_first(r, c, s):
        return top_k_triples(r, c, s, k=None)
    return r, c, s, _run_ranks(r)


def _run_ranks(rows: np.ndarray) -> np.ndarray:
    """Each entry's position within its run of equal ``rows`` (rows grouped, e.g. sorted)."""
    if rows.size == 0:
        return np.zeros(0, np.int64)
    first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    return np.arange(rows.size) - np.repeat(first, np.diff(np.append(first, rows.size)))


def unit_dots(rules: PairRules, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """The unit-vector dot product of each pair ``(i, j)``, bit for bit the one ``prefilter.within_radii``
    compares with the radii: computed once, any round's distance test is then one comparison."""
    u = rules.unit
    return u[i, 0] * u[j, 0] + u[i, 1] * u[j, 1] + u[i, 2] * u[j, 2]


_FLOOR_MARGIN = 1e-6  # stored float32 similarities are within this of the float64 ones


def partner_floor(cands: Candidates, needy: np.ndarray) -> np.ndarray:
    """``(n,)`` float64: the similarity a new entry needs to possibly enter each row's current list of
    ``cands``: its ``k``-th similarity less a rounding margin (``-inf`` while the list is not full),
    ``+inf`` for the ``needy`` rows (mask or indices), whose own recomputed lists bring every such pair."""
    kth = cands.sims[:, -1].astype(np.float64)
    floor = np.where(np.isnan(kth), -np.inf, kth - _FLOOR_MARGIN)
    floor[needy] = np.inf
    return floor
