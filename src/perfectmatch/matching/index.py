"""The ``CandidateIndex`` contract: a strategy that turns vectors and prefilter rules into candidates.

``ExactIndex`` (blocked matrix products, exact) is the default; ``HnswIndex`` in
``matching.hnsw`` (approximate, needs the ``ann`` extra) implements the same contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from perfectmatch.errors import InvalidInputError
from perfectmatch.frame import PopulationFrame
from perfectmatch.matching.candidates import Candidates, exact_candidates
from perfectmatch.matching.prefilter import PairRules


class CandidateIndex(Protocol):
    """Top-``k`` mutually compatible partners with similarity >= ``threshold`` for every user."""

    def generate(
        self, frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, *, k: int, threshold: float,
        rows: np.ndarray | None = None,
    ) -> Candidates: ...


@dataclass(frozen=True)
class ExactIndex:
    """Exact candidates by blocked matrix products (``candidates.exact_candidates``)."""

    cell_km: float = 40.0
    age_band: int = 6
    min_query: int = 64

    def generate(
        self, frame: PopulationFrame, vecs: np.ndarray, rules: PairRules, *, k: int, threshold: float,
        rows: np.ndarray | None = None,
    ) -> Candidates:
        return exact_candidates(frame, vecs, rules, k=k, threshold=threshold, rows=rows, cell_km=self.cell_km,
                                age_band=self.age_band, min_query=self.min_query)


def make_index(kind: str = "exact") -> CandidateIndex:
    """``"exact"`` -> ``ExactIndex()``, ``"approx"`` -> ``hnsw.HnswIndex()`` (needs hnswlib)."""
    if kind == "exact":
        return ExactIndex()
    if kind == "approx":
        from perfectmatch.matching.hnsw import HnswIndex

        return HnswIndex()
    raise InvalidInputError(f"index kind must be 'exact' or 'approx', got {kind!r}")
