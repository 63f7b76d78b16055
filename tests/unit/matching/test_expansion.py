"""Pool sizes and progressive radius expansion."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from popgen import TODAY, exclusions, frames

from perfectmatch.matching.candidates import pool_sizes
from perfectmatch.matching.prefilter import build_rules, expand_radii, mutual_mask


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
