"""Approximate candidates with hnswlib: graph search, over-fetch, then the exact prefilter.

HNSW finds the nearest neighbours by inner product without knowing the prefilters, so each user
asks for ``overfetch * k`` neighbours among the active users, keeps those that pass
``prefilter.mutual_mask`` and the similarity threshold (recomputed exactly), and keeps the best
``k``; users left short ask again for more neighbours (x4 each time) until they have ``k``, their
neighbours drop below the threshold, or ``max_fetch`` is reached. With strict prefilters (only a
small share of similar users is compatible) this fetches many neighbours: the benchmark shows
the cost. Recall against ``exact_candidates`` is that of the HNSW search itself
(``evaluation.recall_at_k`` measures it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from perfectmatch.errors import IndexNotBuiltError, InvalidInputError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.candidates import Candidates, pair_similarity, to_candidates
from perfectmatch.matching.evaluation import recall_at_k
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
        Neighbours first fetched per user, as a multiple of ``k``, before the prefilter. Users with
        fewer than ``k`` partners after filtering ask again for four times as many, until their
        neighbours fall below the threshold or ``max_fetch`` is reached (``None``: no limit).
    threads
        hnswlib threads (-1 = all cores).
    seed
        Seed of the graph's random levels.
    """

    m: int = 16
    ef_construction: int = 100
    ef: int = 100
    overfetch: int = 4
    threads: int = -1
    seed: int = 0
    max_fetch: int | None = None
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
        """Approximate top-``k`` candidates: build over the active users, query, post-filter."""
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
