"""Approximate candidates with hnswlib, prefilter-aware: one graph per partition of compatible blocks.

Active users are sorted into the exact engine's blocks (``blocks.partition``: class x geo cell x age
band); consecutive blocks of one class are grouped into *target groups* of about ``group_rows``
users, and each group gets its own HNSW graph (or, below ``min_hnsw`` users, where a graph does
not pay, an exact matrix product). A query row searches only the groups holding a block that
``blocks.block_pairs`` lists as compatible with its own block, fetching ``overfetch * k``
neighbours per group; every fetched pair then gets the exact pairwise prefilter
(``prefilter.mutual_mask``) and the exact similarity (``pairs.pair_similarity``) against the
threshold, and the best ``k`` over all groups are kept. A query whose fetch from some group left
it short (fewer than ``k`` passing partners while the last neighbour was still above the
threshold: a compatible partner may lie further) gets its whole list from the exact blocked engine
(``blocked.exact_survivors`` on those rows), so the only losses are HNSW's own misses among each
group's nearest neighbours.

The unpartitioned mode (``partitioned=False``: one graph over everyone, over-fetch, post-filter,
re-query x4 for users left short up to ``max_fetch``) is kept as the baseline the benchmark shows:
with strict mutual prefilters its recall is 0.07-0.78.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perfectmatch.errors import IndexNotBuiltError, InvalidInputError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.blocked import blas_threads, exact_survivors
from perfectmatch.matching.blocks import Blocks, block_pairs, partition
from perfectmatch.matching.candidates import Candidates, pair_similarity, to_candidates
from perfectmatch.matching.evaluation import recall_at_k
from perfectmatch.matching.pairs import _check, _concat, _margin, top_k_triples
from perfectmatch.matching.prefilter import PairRules, mutual_mask

__all__ = ["HnswIndex", "approx_candidates", "recall_at_k"]


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("approximate mode needs hnswlib: pip install 'perfectmatch[ann]'") from exc
    return hnswlib


@dataclass
class HnswIndex:
    """An hnswlib inner-product index over unit vectors (cosine), with the ``CandidateIndex`` contract.

    Parameters
    ----------
    m, ef_construction, ef
        HNSW graph degree, build-time and query-time beam widths.
    overfetch
        Neighbours fetched per user (per target group when partitioned), as a multiple of ``k``,
        before the exact prefilter.
    threads
        hnswlib threads (-1 = all cores).
    seed
        Seed of the graph's random levels.
    max_fetch
        Unpartitioned mode only: users with fewer than ``k`` partners after filtering ask again for
        four times as many neighbours, until their neighbours fall below the threshold or
        ``max_fetch`` is reached (``None``: no limit).
    partitioned
        One graph per target group of compatible blocks (default) or one graph over everyone.
    cell_km, age_band
        The partition (as in ``candidates.exact_candidates``).
    group_rows
        Target groups grow (consecutive blocks of one class) until they hold this many users.
    min_hnsw
        Groups smaller than this are searched by an exact matrix product instead of a graph.

    Attributes
    ----------
    stats
        After a partitioned ``generate``: ``graphs`` and ``products`` (groups searched each way),
        ``graph_queries`` (query rows sent to a graph, per group) and ``refined`` (of those, rows
        recomputed exactly, over all their compatible blocks, because some graph left them short).
    """

    m: int = 16
    ef_construction: int = 100
    ef: int = 100
    overfetch: int = 4
    threads: int = -1
    seed: int = 0
    max_fetch: int | None = None
    partitioned: bool = True
    cell_km: float = 40.0
    age_band: int = 6
    group_rows: int = 8192
    min_hnsw: int = 4096
    stats: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _index: Any = field(default=None, init=False, repr=False)
    _labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), init=False, repr=False)
    _vecs: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32), init=False, repr=False)

    def build(self, vecs: np.ndarray, labels: np.ndarray | None = None) -> HnswIndex:
        """Index the rows ``vecs`` ``(m, d)``, labelled ``labels`` (default ``0..m-1``)."""
        hnswlib = _hnswlib()
        vecs = np.ascontiguousarray(vecs, dtype=np.float32)
        labels = np.arange(vecs.shape[0], dtype=np.int64) if labels is None else np.asarray(labels, np.int64)
        index = hnswlib.Index(space="ip", dim=vecs.shape[1])
        index.init_index(max_elements=max(vecs.shape[0], 1), ef_construction=self.ef_construction, M=self.m,
                         random_seed=self.seed)
        if vecs.shape[0]:
            index.add_items(vecs, labels, num_threads=self.threads)
        index.set_ef(self.ef)
        self._index, self._labels, self._vecs = index, labels, vecs
        return self

    def query(self, vecs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest labels of each query row by inner product: ``(ids, sims)``, ``(q, k')``
        with ``k' = min(k, indexed rows)``.

        Raises
        ------
        IndexNotBuiltError
            ``build`` was not called.
        """
        if self._index is None:
            raise IndexNotBuiltError("HnswIndex.query called before build()")
        k = min(k, self._labels.size)
        if k == 0 or vecs.shape[0] == 0:
            return np.zeros((vecs.shape[0], 0), np.int64), np.zeros((vecs.shape[0], 0), np.float32)
        queries = np.ascontiguousarray(vecs, dtype=np.float32)
        if 2 * k < self._labels.size:
            self._index.set_ef(max(self.ef, k))
            try:
                labels, dist = self._index.knn_query(queries, k=k, num_threads=self.threads)
                return labels.astype(np.int64), (1.0 - dist).astype(np.float32)
            except RuntimeError:  # the graph search could not return k results: scan instead
                pass
        # asking for half the index or more: a scan is exact and no slower
        sims = queries @ self._vecs.T
        top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return self._labels[top], np.take_along_axis(sims, top, axis=1)

    def generate(
        self, frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, *, k: int, threshold: float,
        rows: np.ndarray | None = None,
    ) -> Candidates:
        """Approximate top-``k`` mutually compatible candidates with similarity >= ``threshold``
        (see the module docstring); ``rows`` restricts the query rows (the others stay empty)."""
        if not self.partitioned:
            return self._generate_global(frame, vecs, rules, k=k, threshold=threshold, rows=rows)
        _check(frame, vecs, rules, k)
        n = len(frame)
        blocks = partition(frame, rules, cell_km=self.cell_km, age_band=self.age_band)
        is_query = np.ones(n, dtype=bool) if rows is None else np.isin(np.arange(n), np.asarray(rows, np.int64))
        out: tuple[list, list, list] = ([], [], [])
        eps = _margin(vecs)
        self.stats = {"graphs": 0, "products": 0, "graph_queries": 0, "refined": 0}
        short: list[np.ndarray] = []
        for target, queries in _group_work(blocks, is_query, self.group_rows):
            short.append(self._search_group(frame, vecs, rules, target, queries, k=k, threshold=threshold, eps=eps,
                                            out=out))
        r, c, s = _concat(*out)
        redo = np.unique(np.concatenate(short)) if short else np.zeros(0, np.int64)
        self.stats["refined"] = int(redo.size)
        if redo.size:
            # rows some graph left short: their complete lists from the exact blocked engine
            keep = ~np.isin(r, redo)
            er, ec, es = exact_survivors(frame, vecs, rules, threshold=threshold, k=k, rows=redo,
                                         cell_km=self.cell_km, age_band=self.age_band)
            r, c, s = np.concatenate([r[keep], er]), np.concatenate([c[keep], ec]), np.concatenate([s[keep], es])
        return to_candidates(n, k, r, c, s)

    def _search_group(
        self, frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, target: np.ndarray, queries: np.ndarray,
        *, k: int, threshold: float, eps: float, out: tuple[list, list, list],
    ) -> np.ndarray:
        """Append to ``out`` each query row's best ``k`` partners among the ``target`` rows; return
        the rows the graph search left short (to be recomputed exactly)."""
        fetch = k * self.overfetch
        if target.size < max(self.min_hnsw, 2 * fetch):
            _exact_group(frame, vecs, rules, target, queries, k=k, threshold=threshold, eps=eps, out=out)
            self.stats["products"] += 1
            return np.zeros(0, np.int64)
        self.build(vecs[target], target)
        self.stats["graphs"] += 1
        self.stats["graph_queries"] += int(queries.size)
        step = max(1, (1 << 24) // fetch)
        left = []
        for lo in range(0, queries.size, step):
            part = queries[lo : lo + step]
            found, near = self.query(vecs[part], fetch)
            qi = np.repeat(part, found.shape[1])
            tj = found.ravel()
            ok = mutual_mask(frame, rules, qi, tj)
            qi, tj = qi[ok], tj[ok]
            s = pair_similarity(vecs, qi, tj)
            keep = s >= threshold
            qi, tj, s = qi[keep], tj[keep], s[keep]
            got = np.bincount(np.searchsorted(part, qi), minlength=part.size)
            # short: fewer than k partners while every fetched neighbour was above the threshold (a
            # compatible partner may lie further): those rows are recomputed exactly at the end
            short = (got < k) & (near[:, -1] >= threshold - eps)
            mine = ~np.isin(qi, part[short])
            r, c, s, _ = top_k_triples(qi[mine], tj[mine], s[mine], k=k)
            out[0].append(r)
            out[1].append(c)
            out[2].append(s)
            left.append(part[short])
        self._index = None
        return np.concatenate(left) if left else np.zeros(0, np.int64)

    def _generate_global(
        self, frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, *, k: int, threshold: float,
        rows: np.ndarray | None = None,
    ) -> Candidates:
        """The unpartitioned baseline: build over the active users, query, post-filter."""
        n = len(frame)
        if vecs.ndim != 2 or vecs.shape[0] != n:
            raise InvalidInputError(f"vecs has shape {vecs.shape}, expected ({n}, d) for {n} users")
        if k < 1:
            raise InvalidInputError(f"k must be >= 1, got {k}")
        active = np.flatnonzero(rules.active)
        self.build(vecs[active], active)
        pending = active if rows is None else np.intersect1d(active, np.asarray(rows, dtype=np.int64))
        fetch = k * self.overfetch
        out_r, out_c, out_s = [], [], []
        while pending.size:
            left = []
            # query in chunks so that the (rows x fetch) result arrays stay within ~256 MiB
            step = max(1, (1 << 25) // max(fetch, 1))
            for lo in range(0, pending.size, step):
                part = pending[lo : lo + step]
                found, near = self.query(vecs[part], fetch)
                qi = np.repeat(part, found.shape[1])
                tj = found.ravel()
                ok = mutual_mask(frame, rules, qi, tj)
                s = pair_similarity(vecs, qi[ok], tj[ok])
                keep = s >= threshold
                qi, tj, s = qi[ok][keep], tj[ok][keep], s[keep]
                got = np.bincount(qi, minlength=n)[part]
                # a row is settled when it has k partners, its neighbours fell below the threshold,
                # or every indexed user was fetched; the others ask again for more neighbours
                settled = (got >= k) | (near[:, -1] < threshold) | (found.shape[1] >= active.size)
                if self.max_fetch is not None and fetch >= self.max_fetch:
                    settled[:] = True
                mine = np.isin(qi, part[settled])
                out_r.append(qi[mine])
                out_c.append(tj[mine])
                out_s.append(s[mine])
                left.append(part[~settled])
            pending = np.concatenate(left) if left else pending[:0]
            fetch *= 4
        r, c, s = (np.concatenate(x) for x in (out_r, out_c, out_s)) if out_r else (np.zeros(0, np.int64),) * 3
        return to_candidates(n, k, r, c, s)


def _group_work(blocks: Blocks, is_query: np.ndarray, group_rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per target group (consecutive blocks of one class, about ``group_rows`` users): its frame
    rows and the sorted query rows of every block compatible with one of its blocks."""
    nb = len(blocks)
    if nb == 0:
        return []
    sizes = blocks.sizes.tolist()
    klass = blocks.klass.tolist()
    group = np.empty(nb, dtype=np.int64)
    g, acc = 0, 0
    for b in range(nb):
        if b and (klass[b] != klass[b - 1] or acc >= group_rows):
            g, acc = g + 1, 0
        group[b] = g
        acc += sizes[b]
    q_in_block = np.add.reduceat(is_query[blocks.rows].astype(np.int64), blocks.start)
    qb, tb = block_pairs(blocks, np.flatnonzero(q_in_block > 0))
    gq = np.unique(group[tb] * nb + qb)  # (group, query block) pairs, sorted by group
    gid, qblock = gq // nb, gq % nb
    g_start = np.searchsorted(group, np.arange(g + 1))
    g_stop = np.append(g_start[1:], nb)
    bounds = np.searchsorted(gid, np.arange(g + 2))
    work = []
    for i in range(g + 1):
        qbl = qblock[bounds[i] : bounds[i + 1]]
        if qbl.size == 0:
            continue
        target = blocks.rows[blocks.start[g_start[i]] : blocks.stop[g_stop[i] - 1]]
        queries = np.concatenate([blocks.rows[blocks.start[b] : blocks.stop[b]] for b in qbl.tolist()])
        queries = np.sort(queries[is_query[queries]])
        if queries.size:
            work.append((target, queries))
    return work


def _exact_group(
    frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, target: np.ndarray, queries: np.ndarray,
    *, k: int, threshold: float, eps: float, out: tuple[list, list, list],
) -> None:
    """Each query row's exact best ``k`` partners among ``target`` (one blocked matrix product)."""
    tv = np.ascontiguousarray(vecs[target].T)
    step = max(1, 4_000_000 // max(target.size, 1))
    for lo in range(0, queries.size, step):
        part = queries[lo : lo + step]
        with blas_threads(1):
            r, c = np.nonzero(vecs[part] @ tv >= threshold - eps)
        qi, tj = part[r], target[c]
        ok = mutual_mask(frame, rules, qi, tj)
        qi, tj = qi[ok], tj[ok]
        s = pair_similarity(vecs, qi, tj)
        keep = s >= threshold
        r, c, s, _ = top_k_triples(qi[keep], tj[keep], s[keep], k=k)
        out[0].append(r)
        out[1].append(c)
        out[2].append(s)


def approx_candidates(
    frame: PopulationFrame,
    vecs: np.ndarray,
    rules: PairRules,
    *,
    k: int,
    threshold: float = 0.65,
    rows: np.ndarray | None = None,
    index: HnswIndex | None = None,
) -> Candidates:
    """Approximate candidates with hnswlib (see the module docstring); ``index`` sets its parameters."""
    return (index or HnswIndex()).generate(frame, vecs, rules, k=k, threshold=threshold, rows=rows)
