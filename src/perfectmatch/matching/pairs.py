"""Candidate lists and the primitives every candidate path shares.

``Candidates`` holds the top-K partners per user; :func:`pair_similarity` is the one definition of a
pair's similarity (the exact product of whole-number "grid" vectors, so every path gets bit-identical
values, see :func:`grid_vectors`) and
:func:`top_k_triples` the one ordering (similarity descending, then partner row ascending).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.prefilter import PairRules

_MARGIN = 1e-4


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


_PAIR_CHUNK = 32_768
_EXACT_F32 = 4096.0  # grid vectors keep their norm below this: every product and partial sum < 2**24


def concat_ranges(starts: np.ndarray, stops: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """The concatenation of ``arange(starts[i], stops[i])`` for all ``i``, vectorised, as ``dtype``
    (int32 where positions fit: half the memory traffic)."""
    lengths = np.asarray(stops) - np.asarray(starts)
    offset = np.cumsum(lengths) - lengths
    out = np.arange(int(lengths.sum()), dtype=dtype)
    out += np.repeat((starts - offset).astype(dtype), lengths)
    return out


def grid_scale(d: int) -> float:
    """The norm grid vectors of dimension ``d`` are scaled to (about 4,000): the largest whole number
    leaving room for the rounding (at most ``sqrt(d) / 2`` of norm), so their norms stay below 4,096."""
    return float(np.floor(_EXACT_F32 - 0.5 * np.sqrt(d) - 1.0))


def grid_vectors(vecs: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``(n, d)`` float32 whole numbers: L2-normalised ``vecs`` (only ``rows`` when given) times
    :func:`grid_scale`, rounded.

    Every product of two such vectors, and every partial sum of it (Cauchy-Schwarz), is a whole
    number below ``2**24``, hence exact in float32: a BLAS matrix product gives each pair the same
    value as any other summation order. That is what lets the blocked engine, the dense reference,
    the Dask engine and the approximate mode's refinement agree bit for bit without recomputing
    pairs in float64. Rounding moves a cosine by about ``1e-4`` (at most ``sqrt(d) / scale``).

    ``int16`` input is taken as grid vectors already (the Dask engine ships them so: half the bytes
    of float32, and the same products).
    """
    if vecs.dtype == np.int16:
        return np.asarray(vecs if rows is None else vecs[rows], dtype=np.float32)
    v = np.asarray(vecs, dtype=np.float32)
    g = np.array(v if rows is None else v[rows], dtype=np.float32)  # a copy, scaled in place
    norms = np.sqrt(np.einsum("ij,ij->i", g, g, dtype=np.float64)) if g.size else np.zeros(g.shape[0])
    if norms.size and norms.max() > 1.0 + 1e-4:
        at = int(np.argmax(norms))
        row = at if rows is None else int(np.asarray(rows)[at])
        raise InvalidInputError(f"vectors must be L2-normalised: row {row} has norm {norms[at]:.6f}")
    g *= np.float32(grid_scale(g.shape[1]))
    return np.rint(g, out=g)


def similarity_of(dots: np.ndarray, d: int) -> np.ndarray:
    """float64 similarities from exact grid products (``dots``, whole numbers) in dimension ``d``."""
    return np.asarray(dots, dtype=np.float64) / grid_scale(d) ** 2


def min_grid_dot(threshold: float, d: int) -> float:
    """The smallest whole-number grid product whose :func:`similarity_of` reaches ``threshold``."""
    s2 = grid_scale(d) ** 2
    t = float(np.ceil(threshold * s2))
    while t - 1.0 >= 0 and (t - 1.0) / s2 >= threshold:
        t -= 1.0
    while t / s2 < threshold:
        t += 1.0
    return t


def pair_similarity(vecs: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Similarity of row pairs: the exact product of their grid vectors (:func:`grid_vectors`) as a
    cosine, float64. The one definition every candidate path shares: bit-identical values in every
    path and ``pair_similarity(v, i, j) == pair_similarity(v, j, i)``."""
    i, j = np.asarray(i), np.asarray(j)
    d = vecs.shape[-1]
    scale = np.float32(grid_scale(d))
    if i.ndim != 1:
        return similarity_of((np.rint(vecs[i] * scale) * np.rint(vecs[j] * scale)).sum(axis=-1), d)
    out = np.empty(i.shape[0], dtype=np.float64)
    for lo in range(0, i.shape[0], _PAIR_CHUNK):  # bounded memory: dense pools give millions of pairs
        a = np.rint(vecs[i[lo : lo + _PAIR_CHUNK]] * scale)
        b = np.rint(vecs[j[lo : lo + _PAIR_CHUNK]] * scale)
        out[lo : lo + _PAIR_CHUNK] = similarity_of(np.einsum("ij,ij->i", a, b), d)
    return out


def _margin(vecs: np.ndarray) -> float:
    """A float32 product of the raw (normalised) vectors is within this of :func:`pair_similarity`:
    the grid's rounding (``sqrt(d) / scale``) plus float32 rounding."""
    d = vecs.shape[1] if vecs.ndim == 2 else 1
    return float(np.sqrt(d) / grid_scale(d)) + max(_MARGIN, 4.0 * d * float(np.finfo(np.float32).eps))


def top_k_triples(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, *, k: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Keep the best ``k`` entries per row (similarity descending, column ascending).

    Returns ``(rows, cols, sims, rank)`` sorted by row then rank; ``k=None`` keeps all.
    """
    order = _row_best_first(rows, cols, np.asarray(sims, dtype=np.float64))
    ranked = rows[order]
    if ranked.size == 0:
        return ranked, cols[order], sims[order], np.zeros(0, np.int64)
    start = np.ones(ranked.size, dtype=bool)
    start[1:] = ranked[1:] != ranked[:-1]
    first = np.flatnonzero(start)
    rank = np.arange(ranked.size) - np.repeat(first, np.diff(np.append(first, ranked.size)))
    if k is not None:  # only the kept entries are gathered (tens of millions fewer at a million users)
        keep = rank < k
        ranked, order, rank = ranked[keep], order[keep], rank[keep]
    return ranked, cols[order], sims[order], rank


_THREADED_ENTRIES = 1 << 20  # below this one thread ranks faster than two split the entries


def top_k_threaded(
    rows: np.ndarray, cols: np.ndarray, sims: np.ndarray, *, k: int | None, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`top_k_triples` on ``threads`` threads: the entries split into ranges of rows holding
    about as many entries each, every range ranked by its own thread (numpy's sorts and gathers
    release the GIL), the results joined in row order: the same arrays as one call gives."""
    if threads <= 1 or rows.size < max(_THREADED_ENTRIES, 1):
        return top_k_triples(rows, cols, sims, k=k)
    per_row = np.cumsum(np.bincount(rows))
    bounds = np.searchsorted(per_row, per_row[-1] * np.arange(1, threads) / threads)  # last row of each range
    part = np.searchsorted(bounds, rows)
    pieces = []
    for p in range(threads):
        at = np.flatnonzero(part == p)
        pieces.append((rows[at], cols[at], sims[at]))
    del part  # 8 bytes per entry: 330 MB at the end of a million-user first pass
    ranked = threaded_map(lambda piece: top_k_triples(*piece, k=k), pieces, threads)
    return tuple(np.concatenate(x) for x in zip(*ranked, strict=True))  # type: ignore[return-value]


T = TypeVar("T")
R = TypeVar("R")


def threaded_map(fn: Callable[[T], R], items: Sequence[T], threads: int) -> list[R]:
    """``[fn(x) for x in items]`` on up to ``threads`` threads, in order (numpy's heavy calls release
    the GIL); in this thread when one suffices."""
    workers = min(threads, len(items))
    if workers <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))


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
    del key
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
    return placed_candidates(n, k, rows, cols, sims)[0]


def placed_candidates(
    n: int, k: int, rows: np.ndarray, cols: np.ndarray, sims: np.ndarray
) -> tuple[Candidates, np.ndarray]:
    """:func:`to_candidates` plus the ``(n, k)`` float64 similarities of the placed entries (``nan``
    where empty), which radius expansion ranks on."""
    rows, cols, sims, rank = top_k_triples(rows, cols, sims, k=k)
    idx = np.full((n, k), -1, dtype=np.int32)
    s64 = np.full((n, k), np.nan)
    idx[rows, rank] = cols
    s64[rows, rank] = sims
    return Candidates(idx=idx, sims=s64.astype(np.float32)), s64


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


def _concat(rs: list, cs: list, ss: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not rs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(rs), np.concatenate(cs), np.concatenate(ss)
