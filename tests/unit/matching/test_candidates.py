"""Exact blocked candidates equal the dense reference and a pair-by-pair brute force, ties included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from popgen import TODAY, exclusions, frames, random_frame, random_vectors, vectors

from perfectmatch.errors import InvalidInputError
from perfectmatch.matching.candidates import (
    Candidates,
    dense_candidates,
    exact_candidates,
    pair_similarity,
    pool_sizes,
)
from perfectmatch.matching.pairs import grid_scale, grid_vectors, similarity_of
from perfectmatch.matching.prefilter import build_rules, is_compatible


def _brute(frame, vecs, excluded, k: int, threshold: float) -> Candidates:  # type: ignore[no-untyped-def]
    """Pair by pair through the model-based predicate, sorted in Python."""
    n = len(frame)
    idx = np.full((n, k), -1, np.int32)
    sims = np.full((n, k), np.nan, np.float32)
    for i in range(n):
        found = []
        for j in range(n):
            if is_compatible(frame, i, j, TODAY, excluded=excluded):
                s = float(pair_similarity(vecs, np.array([i]), np.array([j]))[0])
                if s >= threshold:
                    found.append((-s, j))
        for slot, (neg, j) in enumerate(sorted(found)[:k]):
            idx[i, slot], sims[i, slot] = j, -neg
    return Candidates(idx=idx, sims=sims)


def _same(a: Candidates, b: Candidates) -> None:
    assert np.array_equal(a.idx, b.idx)
    assert np.array_equal(a.sims, b.sims, equal_nan=True)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.integers(1, 5), st.sampled_from([-1.0, 0.0, 0.65, 0.9]))
def test_exact_equals_brute_force(data: st.DataObject, k: int, threshold: float) -> None:
    frame = data.draw(frames(max_n=14))
    vecs = data.draw(vectors(len(frame)))
    excluded = data.draw(exclusions(frame))
    rules = build_rules(frame, day=TODAY, excluded=excluded)
    exact = exact_candidates(frame, vecs, rules, k=k, threshold=threshold, cell_km=5.0, age_band=3, min_query=3)
    _same(exact, _brute(frame, vecs, excluded.tolist(), k, threshold))


@settings(max_examples=25, deadline=None)
@given(st.data(), st.integers(1, 8), st.floats(1.0, 80.0), st.integers(1, 20), st.integers(1, 40))
def test_exact_equals_dense_for_any_partition(
    data: st.DataObject, k: int, cell_km: float, age_band: int, min_query: int
) -> None:
    frame = data.draw(frames(max_n=40))
    vecs = data.draw(vectors(len(frame)))
    rules = build_rules(frame, day=TODAY, excluded=data.draw(exclusions(frame)))
    dense = dense_candidates(frame, vecs, rules, k=k, threshold=0.3, chunk_rows=7)
    exact = exact_candidates(frame, vecs, rules, k=k, threshold=0.3, cell_km=cell_km, age_band=age_band,
                             min_query=min_query)
    _same(exact, dense)
    _same(exact_candidates(frame, vecs, rules, k=k, threshold=0.3, min_query=min_query, buffer_entries=0,
                           workers=2), dense)
    rows = np.arange(0, len(frame), 3)
    sub = exact_candidates(frame, vecs, rules, k=k, threshold=0.3, rows=rows, min_query=min_query)
    assert np.array_equal(sub.idx[rows], dense.idx[rows])
    assert (sub.idx[np.setdiff1d(np.arange(len(frame)), rows)] == -1).all()


@settings(max_examples=25, deadline=None)
@given(st.data(), st.integers(1, 6), st.integers(1, 5), st.integers(1, 60))
def test_products_in_row_slices_give_the_same_candidates(data: st.DataObject, k: int, min_rows: int,
                                                         max_entries: int) -> None:
    """Units cut into row slices (as the largest units of a big population are, to bound memory)
    give the dense reference's lists and pool sizes, for full, partial and threaded runs."""
    from unittest import mock

    from perfectmatch.matching import blocked

    frame = data.draw(frames(max_n=40))
    vecs = data.draw(vectors(len(frame)))
    rules = build_rules(frame, day=TODAY, excluded=data.draw(exclusions(frame)))
    dense = dense_candidates(frame, vecs, rules, k=k, threshold=0.3, chunk_rows=7)
    pools = pool_sizes(frame, rules, cell_km=30.0, min_query=8)
    with mock.patch.object(blocked, "_PRODUCT_ENTRIES", max_entries), mock.patch.object(blocked, "_MIN_CHUNK_ROWS",
                                                                                          min_rows):
        _same(exact_candidates(frame, vecs, rules, k=k, threshold=0.3, cell_km=30.0, min_query=8), dense)
        _same(exact_candidates(frame, vecs, rules, k=k, threshold=0.3, min_query=8, workers=2), dense)
        rows = np.arange(0, len(frame), 2)
        sub = exact_candidates(frame, vecs, rules, k=k, threshold=0.3, rows=rows, min_query=8)
        assert np.array_equal(sub.idx[rows], dense.idx[rows])
        assert pool_sizes(frame, rules, cell_km=30.0, min_query=8).tolist() == pools.tolist()


@pytest.mark.parametrize(("max_entries", "min_rows"), [(1, 1), (500, 3), (4000, 16)])
def test_row_slices_on_a_dense_metro_give_the_same_candidates(max_entries: int, min_rows: int) -> None:
    """The same on a seeded 600-user metro, where units have many rows and credit many entries to
    blocks outside themselves (hypothesis frames are too sparse to always reach that)."""
    from unittest import mock

    from perfectmatch.matching import blocked

    frame, vecs = random_frame(600, seed=4, spread_deg=0.3), random_vectors(600, seed=4)
    rules = build_rules(frame, day=TODAY)
    dense = dense_candidates(frame, vecs, rules, k=7, threshold=0.3, chunk_rows=64)
    with mock.patch.object(blocked, "_PRODUCT_ENTRIES", max_entries), mock.patch.object(blocked, "_MIN_CHUNK_ROWS",
                                                                                          min_rows):
        _same(exact_candidates(frame, vecs, rules, k=7, threshold=0.3, min_query=40, workers=2), dense)


@settings(max_examples=15, deadline=None)
@given(st.data())
def test_pairs_are_symmetric_compatible_and_unique(data: st.DataObject) -> None:
    frame = data.draw(frames(max_n=25))
    vecs = data.draw(vectors(len(frame)))
    rules = build_rules(frame, day=TODAY)
    cands = exact_candidates(frame, vecs, rules, k=3, threshold=0.0)
    a, b, s = cands.pairs()
    assert (a < b).all()
    assert len(set(zip(a.tolist(), b.tolist(), strict=True))) == a.size
    for x, y, sim in zip(a, b, s, strict=True):
        assert is_compatible(frame, int(x), int(y), TODAY)
        assert sim >= 0.0
        assert y in cands.idx[x] or x in cands.idx[y]


def test_similarity_is_symmetric_and_bit_identical() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(50, 64)).astype(np.float32)
    i, j = rng.integers(0, 50, 200), rng.integers(0, 50, 200)
    assert np.array_equal(pair_similarity(v, i, j), pair_similarity(v, j, i))
    assert np.array_equal(pair_similarity(v, i[:7], j[:7]), pair_similarity(v, i, j)[:7])


@settings(max_examples=25, deadline=None)
@given(st.data(), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_exact_does_not_depend_on_the_order_units_finish_in(data: st.DataObject, k: int, seed: int) -> None:
    """Threads hand units back as they finish: any order, with a reduction after every unit, gives
    the dense reference's lists."""
    from unittest import mock

    from perfectmatch.matching import blocked

    frame = data.draw(frames(max_n=40))
    vecs = data.draw(vectors(len(frame)))
    rules = build_rules(frame, day=TODAY, excluded=data.draw(exclusions(frame)))
    dense = dense_candidates(frame, vecs, rules, k=k, threshold=0.3, chunk_rows=7)

    def shuffled(fn, items, workers):  # type: ignore[no-untyped-def]
        done = [fn(item) for item in items]
        for i in np.random.default_rng(seed).permutation(len(done)):
            yield done[i]

    with mock.patch.object(blocked, "_map_as_done", shuffled):
        _same(exact_candidates(frame, vecs, rules, k=k, threshold=0.3, min_query=1, buffer_entries=0), dense)


def test_threads_hand_back_each_result_when_it_is_done() -> None:
    import threading

    from perfectmatch.matching.blocked import _map_as_done

    release = threading.Event()

    def fn(item: int) -> int:
        if item == 0:
            release.wait(timeout=10)  # held until another result was handed back (or 10 s in order)
        return item

    got = _map_as_done(fn, range(4), workers=2)
    first = next(got)
    release.set()
    assert first != 0  # not held up behind the slow first item
    assert sorted([first, *got]) == [0, 1, 2, 3]
    assert list(_map_as_done(fn, range(5), workers=1)) == [0, 1, 2, 3, 4]


def test_threads_keep_working_while_the_consumer_is_busy() -> None:
    """The consumer reduces what it collected between results and submits nothing meanwhile: the
    threads must still have a deep queue of units to work through (they ran dry with two per thread)."""
    import threading
    import time

    from perfectmatch.matching import blocked

    done: list[int] = []
    lock = threading.Lock()

    def fn(item: int) -> int:
        with lock:
            done.append(item)
        return item

    got = blocked._map_as_done(fn, range(200), workers=2)
    first = next(got)  # then the consumer is "busy": it asks for nothing more for a while
    deadline = time.monotonic() + 10
    while len(done) < 32 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(done) >= 32
    assert sorted([first, *got]) == list(range(200))


@settings(max_examples=40, deadline=None)
@given(d=st.integers(1, 1536), n=st.integers(2, 40), seed=st.integers(0, 2**31), spiky=st.booleans())
def test_grid_products_are_exact_in_float32(d: int, n: int, seed: int, spiky: bool) -> None:
    """BLAS float32 products of grid vectors equal their exact integer products (any shape, any
    summation order), and pair_similarity gives the same values: why every path agrees bit for bit."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, d))
    if spiky:  # mass on one coordinate: the largest single products
        v[:, 0] += 50.0
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    g = grid_vectors(v)
    exact = g.astype(np.int64) @ g.astype(np.int64).T
    assert np.abs(exact).max() < 2**24
    assert np.array_equal((g @ g.T).astype(np.int64), exact)
    i, j = np.nonzero(np.ones((n, n), dtype=bool))
    assert np.array_equal(pair_similarity(v, i, j), similarity_of(exact[i, j], d))
    cos = v.astype(np.float64) @ v.astype(np.float64).T
    assert np.abs(similarity_of(exact, d) - cos).max() <= np.sqrt(d) / grid_scale(d) + 1e-6
    shipped = g.astype(np.int16)  # as the Dask engine ships them: whole numbers below 4,096
    assert np.array_equal(shipped, g) and np.array_equal(grid_vectors(shipped, np.arange(n)[::-1]), g[::-1])


def test_grid_vectors_refuse_unnormalised_rows() -> None:
    v = np.ones((3, 4), dtype=np.float32)
    with pytest.raises(InvalidInputError, match="row 0"):
        grid_vectors(v)


def test_shape_errors_name_the_problem() -> None:
    rng = np.random.default_rng(0)
    frame = random_frame(5)
    rules = build_rules(frame, day=TODAY)
    with pytest.raises(InvalidInputError, match="vecs has shape"):
        exact_candidates(frame, rng.normal(size=(4, 3)).astype(np.float32), rules, k=2)
    with pytest.raises(InvalidInputError, match="k must be"):
        exact_candidates(frame, rng.normal(size=(5, 3)).astype(np.float32), rules, k=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 9), st.sampled_from([0.5, 0.5 + 1e-12, 0.7, -0.2, 1.0])),
                max_size=60, unique_by=lambda t: (t[0], t[1])))
def test_fast_row_order_equals_lexsort(entries: list) -> None:
    from perfectmatch.matching.pairs import _row_best_first

    rows = np.array([e[0] for e in entries], dtype=np.int64)
    cols = np.array([e[1] for e in entries], dtype=np.int64)
    sims = np.array([e[2] for e in entries], dtype=np.float64)
    assert _row_best_first(rows, cols, sims).tolist() == np.lexsort((cols, -sims, rows)).tolist()


@settings(max_examples=60, deadline=None)
@given(entries=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 9), st.sampled_from([0.5, 0.7, -0.2, 1.0])),
                max_size=80, unique_by=lambda t: (t[0], t[1])),
       threads=st.integers(2, 4), k=st.sampled_from([None, 1, 3]))
def test_threaded_ranking_equals_one_thread(entries: list, threads: int, k: int | None) -> None:
    """Split into row ranges, ranked on threads and joined, the entries come out as one call gives."""
    from unittest.mock import patch

    from perfectmatch.matching import pairs

    rows = np.array([e[0] for e in entries], dtype=np.int32)
    cols = np.array([e[1] for e in entries], dtype=np.int32)
    sims = np.array([e[2] for e in entries], dtype=np.float64)
    with patch.object(pairs, "_THREADED_ENTRIES", 1):  # split however few entries there are
        got = pairs.top_k_threaded(rows, cols, sims, k=k, threads=threads)
    want = pairs.top_k_triples(rows, cols, sims, k=k)
    assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), spread_deg=st.sampled_from([0.01, 0.5, 5.0, 90.0, 360.0]),
       rows=st.integers(1, 40))
def test_chunk_targets_keep_every_target_that_can_pair_with_a_row(seed: int, spread_deg: float, rows: int) -> None:
    """The chunk-level target filter only drops targets that no row of the chunk can pair with (ages
    both ways and distance within both radii), for chunks that are tight or scattered over the globe."""
    from perfectmatch.matching.blocked import _SortedSide

    rng = np.random.default_rng(seed)
    n = 120
    frame = random_frame(n, seed=seed, spread_deg=spread_deg)
    frame.lat[:] = np.clip(frame.lat - 40.3 - spread_deg / 2, -89.9, 89.9)
    frame.radius_km[:] = rng.choice([1.0, 20.0, 500.0, 5_000.0, 20_000.0], n)
    rules = build_rules(frame, day=TODAY)
    side = _SortedSide.of(frame, None, rules, np.arange(n))
    pos = np.sort(rng.choice(n, size=rows, replace=False))
    tpos = np.arange(n)
    kept = np.zeros(n, dtype=bool)
    kept[side.chunk_targets(pos, tpos)] = True
    p, t = np.repeat(pos, n), np.tile(tpos, pos.size)
    pairs = side.ages_fit(p, t) & side.within_radii(p, t)
    assert kept[t[pairs]].all()
