"""Candidate generation: every mutual prefilter + cosine >= threshold + top-K partners per user.

Two exact implementations that return identical results:

* :func:`exact_candidates` (the production path) sorts the active users into blocks that share
  gender, genders sought and goal, and fall in one geo cell and one age band. A block-level test
  (class compatibility, age ranges, a lower bound on the distance between the blocks) keeps only
  block pairs that *can* hold a compatible pair; each query block does one matrix product with the
  rows of its compatible blocks. No dense ``n x n`` matrix is ever formed.
* :func:`dense_candidates` (the reference and the naive baseline) multiplies query rows with all
  rows and applies the prefilter as a boolean mask over the dense result.

Both use float32 products only to preselect entries (with a safety margin), then recompute the
similarity of every surviving pair with :func:`pair_similarity` (float64, one fixed summation
order) and rank partners by similarity descending, then by row index ascending. So equality with
the reference is exact, ties included.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.blocks import Blocks, block_pairs, partition
from perfectmatch.matching.prefilter import PairRules, RadiusExpansion, is_excluded, mutual_mask, within_radii

_MARGIN = 1e-4
_GEO_MARGIN = 2e-6
_COMPACT_ENTRIES = 20_000_000


@dataclass(frozen=True)
class Candidates:
    """Top-K partners per user.

    Attributes
    ----------
    idx
        ``(n, k)`` int32 partner rows, best first (similarity descending, then row ascending);
        ``-1`` pads rows with fewer than ``k`` partners.
    sims
        ``(n, k)`` float32 cosine similarities, ``nan`` where ``idx == -1``.
    """

    idx: np.ndarray
    sims: np.ndarray

    @property
    def k(self) -> int:
        return int(self.idx.shape[1])

    def __len__(self) -> int:
        return int(self.idx.shape[0])

    def counts(self) -> np.ndarray:
        """``(n,)`` number of partners found per user."""
        return (self.idx >= 0).sum(axis=1)

    def triples(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Directed entries ``(rows, partners, sims)`` in row-major order."""
        rows, slot = np.nonzero(self.idx >= 0)
        return rows.astype(np.int64), self.idx[rows, slot].astype(np.int64), self.sims[rows, slot]

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unique undirected pairs ``(a, b, sims)`` with ``a < b``: a pair is in when either side lists
        the other. Sorted by ``(a, b)``."""
        r, c, s = self.triples()
        a, b = np.minimum(r, c), np.maximum(r, c)
        _, first = np.unique(a * max(len(self), 1) + b, return_index=True)
        return a[first], b[first], s[first]


def pair_similarity(vecs: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Cosine similarity of row pairs as the float64 dot product of the (normalised) vectors.

    One fixed summation order per pair, so every code path gets bit-identical values and
    ``pair_similarity(v, i, j) == pair_similarity(v, j, i)``.
    """
    a = vecs[np.asarray(i)].astype(np.float64)
    b = vecs[np.asarray(j)].astype(np.float64)
    return (a * b).sum(axis=-1)


def _margin(vecs: np.ndarray) -> float:
    """Float32 products are within this of the float64 value (normalised rows, d <= few thousand)."""
    d = vecs.shape[1] if vecs.ndim == 2 else 1
    return max(_MARGIN, 4.0 * d * float(np.finfo(np.float32).eps))


def top_k_triples(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, *, k: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the best ``k`` entries per row (similarity descending, column ascending).

    Returns ``(rows, cols, sims, rank)`` sorted by row then rank; ``k=None`` keeps all.
    """
    order = _row_best_first(rows, cols, sims.astype(np.float64))
    rows, cols, sims = rows[order], cols[order], sims[order]
    if rows.size == 0:
        return rows, cols, sims, np.zeros(0, np.int64)
    start = np.ones(rows.size, dtype=bool)
    start[1:] = rows[1:] != rows[:-1]
    first = np.flatnonzero(start)
    rank = np.arange(rows.size) - np.repeat(first, np.diff(np.append(first, rows.size)))
    if k is not None:
        keep = rank < k
        rows, cols, sims, rank = rows[keep], cols[keep], sims[keep], rank[keep]
    return rows, cols, sims, rank


def _row_best_first(rows: np.ndarray, cols: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """The permutation sorting entries by row, similarity descending, column ascending.

    One ``argsort`` of the float key ``4 * row + (2 - sim)`` (rows never interleave since
    ``2 - sim`` is in ``(0, 4)``; rounding is monotone), then the rare runs of equal keys (equal or
    sub-ulp-close similarities) re-sorted exactly: about 10x faster than a three-key ``lexsort``.
    """
    if rows.size == 0 or np.abs(sims).max() > 1.5:
        return np.lexsort((cols, -sims, rows))
    key = rows.astype(np.float64) * 4.0 + (2.0 - sims)
    order = np.argsort(key)
    sorted_key = key[order]
    tie = sorted_key[1:] == sorted_key[:-1]
    if tie.any():
        in_run = np.zeros(order.size, dtype=bool)
        in_run[1:] |= tie
        in_run[:-1] |= tie
        slots = np.flatnonzero(in_run)
        run_id = np.cumsum(np.r_[True, ~tie])[slots]
        members = order[slots]
        order[slots] = members[np.lexsort((cols[members], -sims[members], run_id))]
    return order


def to_candidates(n: int, k: int, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray) -> Candidates:
    """Padded :class:`Candidates` from directed triples (any order, may exceed ``k`` per row)."""
    rows, cols, sims, rank = top_k_triples(rows, cols, sims, k=k)
    idx = np.full((n, k), -1, dtype=np.int32)
    out = np.full((n, k), np.nan, dtype=np.float32)
    idx[rows, rank] = cols
    out[rows, rank] = sims
    return Candidates(idx=idx, sims=out)


def _check(frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, k: int | None) -> None:
    n = len(frame)
    if vecs.ndim != 2 or vecs.shape[0] != n:
        raise InvalidInputError(f"vecs has shape {vecs.shape}, expected ({n}, d) for {n} users")
    if rules.ages.shape != (n,):
        raise InvalidInputError(f"rules were built for {rules.ages.shape[0]} users, the frame has {n}")
    if k is not None and k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")


def _query_rows(n: int, rows: np.ndarray | None) -> np.ndarray:
    return np.arange(n, dtype=np.int64) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))


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
    eps = _margin(vecs)
    out_r, out_c, out_s = [], [], []
    q_all = _query_rows(n, rows)
    for start in range(0, q_all.size, chunk_rows):
        q = q_all[start : start + chunk_rows]
        with blas_threads(threads):
            dense = vecs[q] @ vecs.T
        mask = (dense >= threshold - eps) & mutual_mask(frame, rules, q[:, None], everyone[None, :])
        r, c = np.nonzero(mask)
        qi = q[r]
        s = pair_similarity(vecs, qi, c)
        keep = s >= threshold
        qi, c, s, _ = top_k_triples(qi[keep], c[keep].astype(np.int64), s[keep], k=k)
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


def _concat(rs: list, cs: list, ss: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not rs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(rs), np.concatenate(cs), np.concatenate(ss)


# ----------------------------------------------------------------------------- blocked exact
def _ranges(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(start[i], stop[i])`` for all ``i``, vectorised."""
    lengths = stop - start
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(start - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return offsets + np.arange(total)


def exact_survivors(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    threshold: float,
    k: int | None,
    rows: np.ndarray | None = None,
    cell_km: float = 40.0,
    age_band: int = 6,
    min_query: int = 64,
    threads: int | None = 1,
    buffer_entries: int = _COMPACT_ENTRIES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed triples ``(row, partner, sim)``: the top ``k`` (all when ``None``) mutually compatible
    partners with similarity >= ``threshold`` of every query row, by blocked matrix products.

    Query blocks are merged with their neighbours in sort order until they hold ``min_query``
    rows, so that each matrix product is large enough for BLAS to be efficient. ``threads`` limits
    BLAS threads during the products (:func:`blas_threads`). Collected entries are reduced to each
    row's best ``k`` whenever more than ``buffer_entries`` have accumulated (keep it well above n k).
    """
    _check(frame, vecs, rules, k)
    symmetric = rows is None
    blocks, units = _work_units(frame, rules, rows, cell_km, age_band, min_query, symmetric=symmetric)
    side = _SortedSide.of(frame, vecs, rules, blocks.rows)
    eps = _margin(vecs)
    out_r, out_c, out_s = [], [], []
    buffered, compact_at = 0, buffer_entries
    with blas_threads(threads):
        for pos, tpos, unit_stop in units:
            buffered += _unit_survivors(frame, vecs, rules, blocks, side, pos, tpos, unit_stop, threshold=threshold,
                                        eps=eps, k=k, symmetric=symmetric, out=(out_r, out_c, out_s))
            if symmetric and k is not None and buffered > compact_at:
                # keep memory bounded: reduce what has been collected to each row's best k so far
                r, c, s, _ = top_k_triples(*_concat(out_r, out_c, out_s), k=k)
                out_r[:], out_c[:], out_s[:] = [r], [c], [s]
                buffered = r.size
    r, c, s = _concat(out_r, out_c, out_s)
    if symmetric:
        r, c, s, _ = top_k_triples(r, c, s, k=k)
    return r, c, s


def _unit_survivors(
    frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, blocks: Blocks, side: _SortedSide,
    pos: np.ndarray, tpos: np.ndarray, unit_stop: int, *, threshold: float, eps: float, k: int | None,
    symmetric: bool, out: tuple[list, list, list],
) -> int:
    """Append the surviving directed entries of one unit of work to ``out``; return their number."""
    out_r, out_c, out_s = out
    # similarity first (one product, one comparison): few entries survive it, and the remaining
    # checks run on those entries only
    r, c = side.similar(pos, tpos, threshold - eps)
    qi, tj = blocks.rows[pos[r]], blocks.rows[tpos[c]]
    ok = _ages_both_ways(frame, rules, qi, tj) & _exact_rest(frame, rules, qi, tj)
    qi, tj, c = qi[ok], tj[ok], c[ok]
    s = pair_similarity(vecs, qi, tj)
    keep = s >= threshold
    qi, tj, s, c = qi[keep], tj[keep], s[keep], c[keep]
    if symmetric:
        # targets outside the unit also get the entry (their unit skipped this block pair);
        # targets inside it appear as queries of this same product
        back = tpos[c] >= unit_stop
        qi, tj, s = np.concatenate([qi, tj[back]]), np.concatenate([tj, qi[back]]), np.concatenate([s, s[back]])
        if k is not None:
            keep = _prune_below_kth(qi, s, k, 0.0)
            qi, tj, s = qi[keep], tj[keep], s[keep]
    else:
        qi, tj, s, _ = top_k_triples(qi, tj, s, k=k)
    out_r.append(qi)
    out_c.append(tj)
    out_s.append(s)
    return int(qi.size)


def _ages_both_ways(frame: PopulationFrame, rules: PairRules, qi: np.ndarray, tj: np.ndarray) -> np.ndarray:
    aq, at = rules.ages[qi], rules.ages[tj]
    return ((at >= frame.age_min[qi]) & (at <= frame.age_max[qi]) & (aq >= frame.age_min[tj])
            & (aq <= frame.age_max[tj]))


def blas_threads(limit: int | None) -> AbstractContextManager[object]:
    """Limit BLAS to ``limit`` threads inside the block (``None``: leave as is).

    The blocked products are many and mid-sized (tens to hundreds of rows by thousands): threaded
    BLAS spends more on waking and syncing threads than it gains, badly so on a loaded machine
    (measured here: 1.3 ns per entry single-threaded against 6-15 ns with two threads).
    """
    if limit is None:
        return nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency; keep working without it
        return nullcontext()
    return threadpool_limits(limits=limit, user_api="blas")


def _exact_rest(frame: PopulationFrame, rules: PairRules, qi: np.ndarray, tj: np.ndarray) -> np.ndarray:
    """The checks the block-level preselection leaves open: self pairs, exact distance, exclusions
    (class, activity and ages are exact already; distance was bounded generously)."""
    ok = (qi != tj) & within_radii(rules, qi, tj)
    if rules.excluded.size:
        ok &= ~is_excluded(rules.excluded, frame.ids[qi], frame.ids[tj])
    return ok


def _work_units(
    frame: PopulationFrame, rules: PairRules, rows: np.ndarray | None, cell_km: float, age_band: int,
    min_query: int, *, symmetric: bool = False,
) -> tuple[Blocks, Iterator[tuple[np.ndarray, np.ndarray, int]]]:
    """The partition and, per unit of work, the sorted positions of its query rows, those of the rows
    of every block compatible with one of its blocks, and where the unit's own positions end.

    With ``symmetric`` every query row is in some unit and only target blocks from the unit's first
    block on are listed: each unordered compatible block pair is then covered once (or twice inside
    one unit), and the caller credits entries to both sides."""
    n = len(frame)
    blocks = partition(frame, rules, cell_km=cell_km, age_band=age_band)
    is_query = np.ones(n, dtype=bool) if rows is None else np.isin(np.arange(n), _query_rows(n, rows))
    if len(blocks) == 0:
        return blocks, iter(())
    q_in_block = np.add.reduceat(is_query[blocks.rows].astype(np.int64), blocks.start)
    qb, tb = block_pairs(blocks, np.flatnonzero(q_in_block > 0))
    first = np.searchsorted(qb, np.arange(len(blocks) + 1))

    def units() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        for lo, hi in _units(blocks, q_in_block, min_query):
            pos = np.arange(blocks.start[lo], blocks.stop[hi - 1])
            if rows is not None:
                pos = pos[is_query[blocks.rows[pos]]]
            targets = np.unique(tb[first[lo] : first[hi]])
            if symmetric:
                targets = targets[targets >= lo]
            if pos.size and targets.size:
                yield pos, _ranges(blocks.start[targets], blocks.stop[targets]), int(blocks.stop[hi - 1])

    return blocks, units()


def pool_sizes(
    frame: PopulationFrame,
    rules: PairRules,
    *,
    rows: np.ndarray | None = None,
    cell_km: float = 40.0,
    age_band: int = 6,
    min_query: int = 64,
) -> np.ndarray:
    """``(n,)`` number of mutually compatible partners of each query row (others 0), similarity
    ignored: the size of each user's pool, by the same blocked scheme."""
    n = len(frame)
    if rules.ages.shape != (n,):
        raise InvalidInputError(f"rules were built for {rules.ages.shape[0]} users, the frame has {n}")
    symmetric = rows is None
    blocks, units = _work_units(frame, rules, rows, cell_km, age_band, min_query, symmetric=symmetric)
    side = _SortedSide.of(frame, None, rules, blocks.rows)
    counts = np.zeros(n, dtype=np.int64)
    for pos, tpos, unit_stop in units:
        r, c, _ = side.preselect(pos, tpos, None)
        qi, tj = blocks.rows[pos[r]], blocks.rows[tpos[c]]
        ok = _exact_rest(frame, rules, qi, tj)
        counts += np.bincount(qi[ok], minlength=n)
        if symmetric:
            counts += np.bincount(tj[ok & (tpos[c] >= unit_stop)], minlength=n)
    return counts


@dataclass(frozen=True)
class _SortedSide:
    """Per-row inputs of the matrix-level preselection, in block order."""

    vecs: np.ndarray  # (m, d) float32
    ages: np.ndarray  # (m,) int16
    want_lo: np.ndarray
    want_hi: np.ndarray
    unit: np.ndarray  # (m, 3) float32 positions on the unit sphere
    min_dot: np.ndarray  # (m,) float32: cos(radius / R) minus a margin

    @classmethod
    def of(cls, frame: PopulationFrame, vecs: np.ndarray | None, rules: PairRules, rows: np.ndarray) -> _SortedSide:
        return cls(
            vecs=np.zeros((rows.size, 0), np.float32) if vecs is None else np.ascontiguousarray(vecs[rows],
                                                                                                 dtype=np.float32),
            ages=rules.ages[rows].astype(np.int16),
            want_lo=frame.age_min[rows].astype(np.int16),
            want_hi=frame.age_max[rows].astype(np.int16),
            unit=rules.unit[rows].astype(np.float32),
            min_dot=(rules.cos_radius[rows] - _GEO_MARGIN).astype(np.float32),
        )

    def similar(self, pos: np.ndarray, tpos: np.ndarray, min_sim: float) -> tuple[np.ndarray, np.ndarray]:
        """Entries ``(r, c)`` of the ``pos x tpos`` block with float32 similarity >= ``min_sim``."""
        sims = self.vecs[pos] @ np.ascontiguousarray(self.vecs[tpos].T)
        return np.nonzero(sims >= min_sim)

    def preselect(self, pos: np.ndarray, tpos: np.ndarray, min_sim: float | None) -> tuple[np.ndarray, ...]:
        """Entries of the ``pos x tpos`` block that pass the similarity bound (unless ``None``), ages
        both ways and a (slightly generous) distance bound: ``(r, c, float32 similarity or None)``."""
        if min_sim is None:
            sims = None
            mask = np.ones((pos.size, tpos.size), dtype=bool)
        else:
            sims = self.vecs[pos] @ np.ascontiguousarray(self.vecs[tpos].T)
            mask = sims >= min_sim
        qa, ta = self.ages[pos][:, None], self.ages[tpos][None, :]
        mask &= ta >= self.want_lo[pos][:, None]
        mask &= ta <= self.want_hi[pos][:, None]
        mask &= qa >= self.want_lo[tpos][None, :]
        mask &= qa <= self.want_hi[tpos][None, :]
        dots = self.unit[pos] @ np.ascontiguousarray(self.unit[tpos].T)
        mask &= dots >= self.min_dot[pos][:, None]
        mask &= dots >= self.min_dot[tpos][None, :]
        r, c = np.nonzero(mask)
        return r, c, None if sims is None else sims[r, c]


def _prune_below_kth(rows: np.ndarray, sims: np.ndarray, k: int, slack: float) -> np.ndarray:
    """Mask of entries that can still be in their row's top ``k``: not more than ``slack`` below the
    row's ``k``-th largest value. Rows with at most ``k`` entries keep all."""
    keep = np.ones(rows.size, dtype=bool)
    if rows.size <= k:
        return keep
    if (rows[1:] < rows[:-1]).any():
        order = np.argsort(rows, kind="stable")
        keep[order] = _prune_below_kth(rows[order], sims[order], k, slack)
        return keep
    start = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    counts = np.diff(np.append(start, rows.size))
    crowded = np.flatnonzero(counts > k)
    if crowded.size == 0:
        return keep
    idx = _ranges(start[crowded], start[crowded] + counts[crowded])
    seg = np.repeat(np.arange(crowded.size), counts[crowded])
    order = np.lexsort((-sims[idx], seg))
    seg_start = np.concatenate(([0], np.cumsum(counts[crowded])[:-1]))
    kth = sims[idx[order[seg_start + k - 1]]]
    keep[idx] = sims[idx] >= np.repeat(kth, counts[crowded]) - slack
    return keep


def _units(blocks: Blocks, q_in_block: np.ndarray, min_query: int) -> list[tuple[int, int]]:
    """Runs ``[lo, hi)`` of consecutive blocks of one class, each holding >= ``min_query`` query rows
    (or reaching the end of its class)."""
    units: list[tuple[int, int]] = []
    klass = blocks.klass.tolist()
    counts = q_in_block.tolist()
    lo, acc = 0, 0
    for b in range(len(blocks)):
        if b > lo and klass[b] != klass[lo]:
            if acc:
                units.append((lo, b))
            lo, acc = b, 0
        acc += counts[b]
        if acc >= min_query:
            units.append((lo, b + 1))
            lo, acc = b + 1, 0
    if lo < len(blocks) and acc:
        units.append((lo, len(blocks)))
    return units


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

    Returns
    -------
    Candidates
        Identical to :func:`dense_candidates` with the same arguments.
    """
    r, c, s = exact_survivors(frame, vecs, rules, threshold=threshold, k=k, rows=rows, cell_km=cell_km,
                              age_band=age_band, min_query=min_query, threads=threads,
                              buffer_entries=buffer_entries)
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
    factors: tuple[float, ...] = (1.5, 2.0, 3.0, 4.0),
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
    n = len(frame)
    cands = exact_candidates(frame, vecs, rules, k=k, threshold=threshold, **tuning)
    start = rules.radius_km.copy()
    cap = np.maximum(start, max_radius_km)
    radius = start.copy()
    current = rules
    needy = rules.active & (cands.counts() < min_pool)
    for factor in sorted(factors):
        needy &= radius < cap
        if not needy.any():
            break
        radius[needy] = np.minimum(start[needy] * factor, cap[needy])
        current = current.with_radius(radius)
        r, c, _ = exact_survivors(frame, vecs, current, threshold=threshold, k=None, rows=np.flatnonzero(needy),
                                  **tuning)
        # rows whose list changes: the needy ones (complete new lists) and their new partners
        affected = np.zeros(n, dtype=bool)
        affected[r] = True
        affected[c] = True
        old_r, old_c, _ = cands.triples()
        keep = affected[old_r] & ~needy[old_r]
        rows = np.concatenate([old_r[keep], r, c])
        cols = np.concatenate([old_c[keep], c, r])
        _, first = np.unique(rows * n + cols, return_index=True)
        rows, cols = rows[first], cols[first]
        fresh = to_candidates(n, k, rows, cols, pair_similarity(vecs, rows, cols))
        idx, out = cands.idx.copy(), cands.sims.copy()
        idx[affected], out[affected] = fresh.idx[affected], fresh.sims[affected]
        cands = Candidates(idx=idx, sims=out)
        needy &= cands.counts() < min_pool
    return cands, RadiusExpansion(radius_km=radius, added_km=radius - start)
