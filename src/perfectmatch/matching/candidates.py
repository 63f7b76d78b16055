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
from typing import Any

import numpy as np

from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.blocked import _COMPACT_ENTRIES, blas_threads, exact_survivors, pool_sizes
from perfectmatch.matching.pairs import (
    Candidates,
    _check,
    _concat,
    _query_rows,
    grid_vectors,
    min_grid_dot,
    pair_similarity,
    placed_candidates,
    similarity_of,
    to_candidates,
    top_k_triples,
)
from perfectmatch.matching.prefilter import PairRules, RadiusExpansion, mutual_mask, within_radii

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
    or empty), which the lists are ranked on; those missing are computed when first needed."""
    n, k = len(frame), cands.k
    s64 = np.full((n, k), np.nan) if sims64 is None else np.array(sims64, dtype=np.float64)
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
        r, c, s = survivors(current, np.flatnonzero(needy), cands)
        r, c, s = useful_entries(r, c, s, partner_floor(cands, needy), k)
        # rows whose list changes: the needy ones (complete new lists) and their new partners
        affected = np.zeros(n, dtype=bool)
        affected[r] = True
        affected[c] = True
        old_r, slot = np.nonzero((cands.idx >= 0) & (affected & ~needy)[:, None])
        old_c = cands.idx[old_r, slot].astype(np.int64)
        unknown = np.isnan(s64[old_r, slot])
        s64[old_r[unknown], slot[unknown]] = pair_similarity(vecs, old_r[unknown], old_c[unknown])
        rows = np.concatenate([old_r, r, c])
        cols = np.concatenate([old_c, c, r])
        sims = np.concatenate([s64[old_r, slot], s, s])
        _, first = np.unique(rows * n + cols, return_index=True)
        fr, fc, fs, rank = top_k_triples(rows[first], cols[first], sims[first], k=k)
        idx = cands.idx.copy()
        idx[affected] = -1
        s64[affected] = np.nan
        idx[fr, rank], s64[fr, rank] = fc, fs  # only affected rows receive entries
        out = cands.sims.copy()
        out[affected] = s64[affected]
        cands = Candidates(idx=idx, sims=out)
        needy &= cands.counts() < min_pool
    return cands, RadiusExpansion(radius_km=radius, added_km=radius - start)


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


def survivors_within(r: np.ndarray, c: np.ndarray, s: np.ndarray) -> Survivors:
    """:func:`expand_candidates`' ``survivors`` from every compatible partner ``(r, c, s)`` of the
    needy rows under their widest radii (:func:`expansion_plan`), computed once: each round keeps the
    entries of the rows it asks for whose distance fits that round's radii. Radii only grow, so a
    round's compatible pairs are a subset of these, and one pass at the widest radii costs less than
    one pass per round."""

    def survivors(current: PairRules, rows: np.ndarray, _: Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keep = np.isin(r, rows) & within_radii(current, r, c)
        return r[keep], c[keep], s[keep]

    return survivors


_FLOOR_MARGIN = 1e-6  # stored float32 similarities are within this of the float64 ones


def partner_floor(cands: Candidates, needy: np.ndarray) -> np.ndarray:
    """``(n,)`` float64: the similarity a new entry needs to possibly enter each row's current list of
    ``cands``: its ``k``-th similarity less a rounding margin (``-inf`` while the list is not full),
    ``+inf`` for the ``needy`` rows (mask or indices), whose own recomputed lists bring every such pair."""
    kth = cands.sims[:, -1].astype(np.float64)
    floor = np.where(np.isnan(kth), -np.inf, kth - _FLOOR_MARGIN)
    floor[needy] = np.inf
    return floor


def useful_entries(
    r: np.ndarray, c: np.ndarray, s: np.ndarray, floor: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The directed entries that can change a list during expansion: in their row's top ``k``, or
    reaching the partner's ``floor`` (:func:`partner_floor`); the others cannot enter any list."""
    r, c, s, rank = top_k_triples(r, c, s, k=None)
    keep = (rank < k) | (s >= floor[c])
    return r[keep], c[keep], s[keep]
