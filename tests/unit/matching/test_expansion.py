"""Pool sizes and progressive radius expansion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from popgen import TODAY, exclusions, frames

from perfectmatch.matching.candidates import pool_sizes
from perfectmatch.matching.prefilter import build_rules, expand_radii, mutual_mask, within_radii


def _brute_pools(frame, rules) -> np.ndarray:  # type: ignore[no-untyped-def]
    n = len(frame)
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return mutual_mask(frame, rules, i, j).sum(axis=1)


@settings(max_examples=30, deadline=None)
@given(st.data(), st.floats(2.0, 60.0), st.integers(1, 10))
def test_pool_sizes_equal_brute_force(data: st.DataObject, cell_km: float, min_query: int) -> None:
    frame = data.draw(frames(max_n=30))
    rules = build_rules(frame, day=TODAY, excluded=data.draw(exclusions(frame)))
    pools = pool_sizes(frame, rules, cell_km=cell_km, min_query=min_query)
    assert pools.tolist() == _brute_pools(frame, rules).tolist()


@settings(max_examples=30, deadline=None)
@given(frames(max_n=30), st.integers(0, 6), st.sampled_from([10.0, 100.0, 400.0]))
def test_expansion_widens_only_small_pools_within_the_cap(frame, min_pool: int, cap: float) -> None:  # type: ignore[no-untyped-def]
    rules = build_rules(frame, day=TODAY)
    before = _brute_pools(frame, rules)
    radius, added = expand_radii(frame, rules, min_pool=min_pool, max_radius_km=cap)
    assert (added >= 0).all() and np.allclose(radius - frame.radius_km, added)
    grown = added > 0
    assert (before[grown] < min_pool).all() and rules.active[grown].all()
    assert (radius[grown] <= np.maximum(frame.radius_km[grown], cap) + 1e-9).all()
    after = _brute_pools(frame, rules.with_radius(radius))
    assert (after >= before).all()
    # a user left short was widened as far as allowed (4x or the cap)
    short = rules.active & (after < min_pool)
    assert np.allclose(radius[short], np.minimum(frame.radius_km[short] * 4.0,
                                                 np.maximum(frame.radius_km[short], cap)))


@settings(max_examples=30, deadline=None)
@given(st.data(), st.integers(1, 6), st.integers(1, 5), st.sampled_from([30.0, 120.0]))
def test_generate_with_expansion_equals_dense_with_final_radii(data: st.DataObject, min_pool: int, k: int,
                                                              cap: float) -> None:
    from popgen import vectors

    from perfectmatch.matching.candidates import dense_candidates, generate_with_expansion

    frame = data.draw(frames(max_n=30))
    vecs = data.draw(vectors(len(frame)))
    rules = build_rules(frame, day=TODAY, excluded=data.draw(exclusions(frame)))
    before = dense_candidates(frame, vecs, rules, k=k, threshold=0.2).counts()
    cands, (radius, added) = generate_with_expansion(frame, vecs, rules, k=k, threshold=0.2, min_pool=min_pool,
                                                     max_radius_km=cap, min_query=3)
    ref = dense_candidates(frame, vecs, rules.with_radius(radius), k=k, threshold=0.2)
    assert np.array_equal(cands.idx, ref.idx)
    assert np.array_equal(cands.sims, ref.sims, equal_nan=True)
    assert (before[added > 0] < min_pool).all()


# ------------------------------------------------------------------ the expansion rounds' helpers
SIMS = st.sampled_from([0.9, 0.8, 0.8 + 1e-12, 0.7, 0.65])  # few values: ties and sub-ulp neighbours


@settings(max_examples=80, deadline=None)
@given(st.data(), st.integers(1, 5))
def test_merging_partners_into_sorted_lists_equals_a_full_re_ranking(data: st.DataObject, k: int) -> None:
    from perfectmatch.matching.candidates import _Lists
    from perfectmatch.matching.pairs import placed_candidates, top_k_triples

    n = 8
    pair_sim = {}  # one similarity per unordered pair, as every engine computes it

    def sim(a: int, b: int) -> float:
        return pair_sim.setdefault((min(a, b), max(a, b)), data.draw(SIMS))

    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=30, unique=True))
    old = [(a, b, sim(a, b)) for a, b in pairs if a != b]
    r, c, s = (np.array([e[i] for e in old], dtype=np.int64 if i < 2 else np.float64) for i in range(3))
    cands, s64 = placed_candidates(n, k, r, c, s)
    offered = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=20, unique=True))
    new = [(a, b, sim(a, b)) for a, b in offered if a != b]  # may repeat listed entries
    nr, nc, ns = (np.array([e[i] for e in new], dtype=np.int64 if i < 2 else np.float64) for i in range(3))
    lists = _Lists.of(cands, s64)
    lists.merge_partners(np.zeros((n, 2), np.float32), nr, nc, ns)
    # reference: the best k of the listed entries and the new ones, each pair once
    lr, lc, _ = cands.triples()
    allr, allc = np.concatenate([lr, nr]), np.concatenate([lc, nc])
    alls = np.concatenate([s64[lr, np.nonzero(cands.idx >= 0)[1]], ns])
    _, first = np.unique(allr * n + allc, return_index=True)
    want, want64 = placed_candidates(n, k, *top_k_triples(allr[first], allc[first], alls[first], k=k)[:3])
    assert np.array_equal(lists.idx, want.idx)
    assert np.array_equal(lists.s64, want64, equal_nan=True)
    assert np.array_equal(lists.sims, want.sims, equal_nan=True)
    assert np.array_equal(cands.idx, placed_candidates(n, k, r, c, s)[0].idx)  # the input is left alone


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6), SIMS), max_size=40, unique_by=lambda t: t[:2]),
       st.booleans())
def test_ranking_skips_the_sort_only_for_entries_already_in_order(entries: list, presort: bool) -> None:
    from perfectmatch.matching.candidates import in_row_best_first, ranked
    from perfectmatch.matching.pairs import top_k_triples

    r = np.array([e[0] for e in entries], dtype=np.int64)
    c = np.array([e[1] for e in entries], dtype=np.int64)
    s = np.array([e[2] for e in entries], dtype=np.float64)
    if presort:
        r, c, s, _ = top_k_triples(r, c, s, k=None)
    want = top_k_triples(r, c, s, k=None)
    assert all(np.array_equal(a, b) for a, b in zip(ranked(r, c, s), want, strict=True))
    order = np.lexsort((c, -s, r))
    assert in_row_best_first(r, c, s) == bool(np.array_equal(order, np.arange(r.size)))


@settings(max_examples=40, deadline=None)
@given(frames(min_n=4, max_n=25), st.data())
def test_survivors_within_keep_the_asked_rows_within_both_radii(frame, data: st.DataObject) -> None:  # type: ignore[no-untyped-def]
    from perfectmatch.matching.candidates import survivors_within, unit_dots
    from perfectmatch.matching.pairs import Candidates

    n = len(frame)
    rules = build_rules(frame, day=TODAY)
    i, j = np.nonzero(~np.eye(n, dtype=bool))
    s = np.array(data.draw(st.lists(SIMS, min_size=i.size, max_size=i.size)))
    give_dots = data.draw(st.booleans())
    survivors = survivors_within(i, j, s, unit_dots(rules, i, j) if give_dots else None)
    empty = Candidates(idx=np.full((n, 1), -1, np.int32), sims=np.full((n, 1), np.nan, np.float32))
    asked = np.arange(n)
    radius = rules.radius_km.copy()
    for factor in (1.0, 2.0, 4.0):
        asked = asked[: max(1, asked.size - 2)]
        radius[asked] = frame.radius_km[asked] * factor
        current = rules.with_radius(radius)
        got = survivors(current, asked, empty)
        keep = np.isin(i, asked) & within_radii(current, i, j)
        order = np.lexsort((j[keep], -s[keep], i[keep]))
        assert all(np.array_equal(a, b[keep][order]) for a, b in zip(got, (i, j, s), strict=True))
    with pytest.raises(ValueError, match="subset"):
        survivors(current, np.arange(n), empty)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), SIMS), max_size=40, unique_by=lambda t: t[:2]),
       st.integers(0, 40))
def test_sorted_blocks_merge_into_the_row_best_first_order(entries: list, cut: int) -> None:
    from perfectmatch.matching.candidates import _merged_order
    from perfectmatch.matching.pairs import top_k_triples

    r = np.array([e[0] for e in entries], dtype=np.int64)
    c = np.array([e[1] for e in entries], dtype=np.int64)
    s = np.array([e[2] for e in entries], dtype=np.float64)
    mine = r % 2 == 0  # two blocks with disjoint rows, each sorted, concatenated (as the Dask partitions)
    blocks = [top_k_triples(r[m], c[m], s[m], k=None)[:3] for m in (mine, ~mine)]
    br, bc, bs = (np.concatenate([b[i] for b in blocks]) for i in range(3))
    if cut < br.size:  # sometimes not sorted blocks at all
        br, bc, bs = np.roll(br, cut), np.roll(bc, cut), np.roll(bs, cut)
    order = _merged_order(br, bc, bs)
    assert order.tolist() == np.lexsort((bc, -bs, br)).tolist()
