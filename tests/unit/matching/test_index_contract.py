"""The CandidateIndex contract, run over ExactIndex and HnswIndex; recall of the approximate mode."""

from __future__ import annotations

import numpy as np
import pytest
from popgen import TODAY, random_frame, random_vectors

from perfectmatch.errors import IndexNotBuiltError, InvalidInputError
from perfectmatch.matching.candidates import Candidates, dense_candidates, pair_similarity
from perfectmatch.matching.evaluation import recall_at_k
from perfectmatch.matching.hnsw import HnswIndex, approx_candidates
from perfectmatch.matching.index import ExactIndex, make_index
from perfectmatch.matching.prefilter import build_rules, mutual_mask

N, K, THRESHOLD = 600, 10, 0.3


@pytest.fixture(scope="module")
def population():  # type: ignore[no-untyped-def]
    frame = random_frame(N, seed=5)
    vecs = random_vectors(N, seed=5)
    rules = build_rules(frame, day=TODAY, excluded=np.array([(1 << 32) | 2, (3 << 32) | 4], dtype=np.int64))
    return frame, vecs, rules


@pytest.fixture(params=["exact", "approx"])
def index(request):  # type: ignore[no-untyped-def]
    return make_index(request.param)


def test_every_candidate_is_compatible_above_threshold_and_sorted(index, population) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules = population
    cands = index.generate(frame, vecs, rules, k=K, threshold=THRESHOLD)
    r, c, s = cands.triples()
    assert r.size > N  # the population is dense enough to exercise top-K
    assert mutual_mask(frame, rules, r, c).all()
    assert (s >= THRESHOLD).all()
    assert np.allclose(s, pair_similarity(vecs, r, c).astype(np.float32))
    filled = np.where(cands.idx >= 0, cands.sims, -10.0)
    assert (np.diff(filled, axis=1) <= 0).all()


def test_recall_against_exact(index, population) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules = population
    exact = dense_candidates(frame, vecs, rules, k=K, threshold=THRESHOLD)
    got = index.generate(frame, vecs, rules, k=K, threshold=THRESHOLD)
    recall = recall_at_k(got, exact)
    if isinstance(index, ExactIndex):
        assert recall == 1.0 and np.array_equal(got.idx, exact.idx)
    else:
        assert recall >= 0.9


def test_rows_restrict_the_queries(index, population) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules = population
    rows = np.arange(0, N, 7)
    got = index.generate(frame, vecs, rules, k=K, threshold=THRESHOLD, rows=rows)
    others = np.setdiff1d(np.arange(N), rows)
    assert (got.idx[others] == -1).all() and (got.idx[rows] >= 0).any()


def test_recall_at_k_counts_shared_entries() -> None:
    exact = Candidates(idx=np.array([[1, 2], [0, -1]], np.int32), sims=np.zeros((2, 2), np.float32))
    approx = Candidates(idx=np.array([[2, 3], [-1, -1]], np.int32), sims=np.zeros((2, 2), np.float32))
    assert recall_at_k(approx, exact) == pytest.approx(1 / 3)
    assert recall_at_k(exact, exact) == 1.0
    assert recall_at_k(approx, exact, rows=np.array([0])) == pytest.approx(0.5)


def test_hnsw_refuses_queries_before_build_and_bad_shapes(population) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules = population
    with pytest.raises(IndexNotBuiltError):
        HnswIndex().query(vecs[:3], 5)
    with pytest.raises(InvalidInputError, match="vecs has shape"):
        approx_candidates(frame, vecs[:10], rules, k=5)
    with pytest.raises(InvalidInputError, match="index kind"):
        make_index("fuzzy")
