"""The prefilter-aware approximate mode on a realistic simulated population: recall@50 against exact."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from perfectmatch.matching.candidates import exact_candidates, pair_similarity
from perfectmatch.matching.evaluation import recall_at_k
from perfectmatch.matching.hnsw import HnswIndex, approx_candidates
from perfectmatch.matching.prefilter import build_rules, mutual_mask
from perfectmatch.populations.metros import top_metros
from perfectmatch.populations.simulate import simulate

DAY = date(2026, 11, 25)
N, K, THRESHOLD = 4000, 50, 0.65


def _vectors(traits: np.ndarray, d: int = 32, seed: int = 3) -> np.ndarray:
    """Unit rows from a shared direction plus the latent traits plus noise (as the benchmark's)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(traits.shape[1], d)) / np.sqrt(d)
    mu = np.abs(rng.normal(size=d))
    v = 2.2 * mu / np.linalg.norm(mu) + traits @ w + rng.normal(size=(traits.shape[0], d)) / np.sqrt(d)
    v = v.astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    pop = simulate(N, 11, today=DAY, bank=False, metros=top_metros(1))  # one metro: dense pools
    vecs = _vectors(pop.traits)
    rules = build_rules(pop.frame, day=DAY)
    exact = exact_candidates(pop.frame, vecs, rules, k=K, threshold=THRESHOLD)
    return pop.frame, vecs, rules, exact


# small groups and a low graph size so that most groups are searched through HNSW graphs
GRAPHS = HnswIndex(group_rows=600, min_hnsw=300, overfetch=2, threads=1)


def _valid(frame, vecs, rules, cands) -> None:  # type: ignore[no-untyped-def]
    r, c, s = cands.triples()
    assert mutual_mask(frame, rules, r, c).all()
    assert (s >= THRESHOLD).all()
    assert np.allclose(s, pair_similarity(vecs, r, c).astype(np.float32))
    filled = np.where(cands.idx >= 0, cands.sims, -10.0)
    assert (np.diff(filled, axis=1) <= 0).all()


def test_population_is_a_real_top_k_problem(world) -> None:  # type: ignore[no-untyped-def]
    _, _, rules, exact = world
    counts = exact.counts()[rules.active]
    assert (counts == K).mean() > 0.1 and (counts < K).mean() > 0.05


def test_graph_search_recall_at_50_and_every_pair_valid(world) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules, exact = world
    got = GRAPHS.generate(frame, vecs, rules, k=K, threshold=THRESHOLD)
    _valid(frame, vecs, rules, got)
    assert recall_at_k(got, exact) >= 0.98


def test_default_entry_point_recall_and_validity(world) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules, exact = world
    got = approx_candidates(frame, vecs, rules, k=K, threshold=THRESHOLD)
    _valid(frame, vecs, rules, got)
    assert recall_at_k(got, exact) >= 0.98


def test_small_groups_fall_back_to_exact_products(world) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules, exact = world
    got = HnswIndex(min_hnsw=10**9).generate(frame, vecs, rules, k=K, threshold=THRESHOLD)
    assert np.array_equal(got.idx, exact.idx)
    assert np.array_equal(got.sims, exact.sims, equal_nan=True)


def test_rows_restrict_the_queries(world) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules, exact = world
    rows = np.flatnonzero(rules.active)[::9]
    got = GRAPHS.generate(frame, vecs, rules, k=K, threshold=THRESHOLD, rows=rows)
    others = np.setdiff1d(np.arange(N), rows)
    assert (got.idx[others] == -1).all()
    assert recall_at_k(got, exact, rows=rows) >= 0.98


def test_unpartitioned_baseline_loses_recall(world) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules, exact = world
    baseline = HnswIndex(partitioned=False, overfetch=2, max_fetch=2 * K, threads=1)
    got = baseline.generate(frame, vecs, rules, k=K, threshold=THRESHOLD)
    _valid(frame, vecs, rules, got)
    assert recall_at_k(got, exact) < recall_at_k(GRAPHS.generate(frame, vecs, rules, k=K, threshold=THRESHOLD),
                                                 exact)


def test_most_rows_answered_by_graphs_keep_recall(world) -> None:  # type: ignore[no-untyped-def]
    frame, vecs, rules, _ = world
    k = 10
    exact = exact_candidates(frame, vecs, rules, k=k, threshold=THRESHOLD)
    index = HnswIndex(group_rows=400, min_hnsw=100, overfetch=2, threads=1, m=8, ef=10)
    got = index.generate(frame, vecs, rules, k=k, threshold=THRESHOLD)
    # the graph path really answers most of its rows (not the exact refinement)
    assert index.stats["graphs"] >= 5
    assert index.stats["refined"] < index.stats["graph_queries"] / 2
    _valid(frame, vecs, rules, got)
    assert recall_at_k(got, exact) >= 0.98
